#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Validates speedscope files written by pyspy-watch (report/speedscope.h):
//
//     node tests/js/validate-speedscope.js FILE...
//
// Each file must be strict UTF-8 JSON, valid against the schema the speedscope npm package
// ships (dist/release/file-format-schema.json, draft-07, checked with ajv), and pass what that
// schema cannot say: every frame index in range and an integer, one weight per sample, weights
// finite and >= 0, endValue >= startValue, endValue - startValue equal to the sum of the
// weights (our writer lays samples end to end), lines positive integers, activeProfileIndex a
// profile. Prints each problem as FILE: message; exits 1 if there was any, 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
// ajv 8's default export speaks draft-07 (the schema's "$schema") without extra meta-schemas;
// ajv/dist/2019 would be for draft 2019-09.
const Ajv = require('ajv');

const SCHEMA = path.join(__dirname, 'node_modules', 'speedscope', 'dist', 'release', 'file-format-schema.json');

function compileSchema() {
        const schema = JSON.parse(fs.readFileSync(SCHEMA, 'utf8'));
        // strict mode stays on: the schema compiles under it, and a future speedscope schema
        // that stops doing so should be noticed here rather than half-checked.
        const ajv = new Ajv({ allErrors: true });
        return ajv.compile(schema);
}

function semanticProblems(doc) {
        const problems = [];
        const frames = doc.shared.frames;

        frames.forEach((fr, i) => {
                if (fr.line !== undefined && !(Number.isInteger(fr.line) && fr.line > 0))
                        problems.push(`shared.frames[${i}].line is ${fr.line}, not a positive integer`);
        });
        if (doc.profiles.length === 0)
                problems.push('no profiles');
        if (doc.activeProfileIndex !== undefined &&
            !(Number.isInteger(doc.activeProfileIndex) && doc.activeProfileIndex >= 0 &&
              doc.activeProfileIndex < doc.profiles.length))
                problems.push(`activeProfileIndex ${doc.activeProfileIndex} is not a profile`);

        doc.profiles.forEach((prof, p) => {
                const where = `profiles[${p}] (${JSON.stringify(prof.name).slice(0, 80)})`;
                if (prof.type !== 'sampled') {
                        problems.push(`${where}: type ${prof.type}, pyspy-watch writes sampled profiles`);
                        return;
                }
                if (!(prof.endValue >= prof.startValue))
                        problems.push(`${where}: endValue ${prof.endValue} < startValue ${prof.startValue}`);
                if (prof.weights.length !== prof.samples.length)
                        problems.push(`${where}: ${prof.weights.length} weights for ${prof.samples.length} samples`);
                prof.samples.forEach((stack, s) => {
                        stack.forEach((idx, k) => {
                                if (!(Number.isInteger(idx) && idx >= 0 && idx < frames.length))
                                        problems.push(`${where}: samples[${s}][${k}] = ${idx}, not a frame index (0..${frames.length - 1})`);
                        });
                });
                let sum = 0;
                prof.weights.forEach((w, s) => {
                        if (!(Number.isFinite(w) && w >= 0))
                                problems.push(`${where}: weights[${s}] = ${w}`);
                        sum += w;
                });
                // Decimal weights summed in binary floating point: allow rounding, no more.
                const span = prof.endValue - prof.startValue;
                if (Math.abs(sum - span) > 1e-9 * Math.max(1, Math.abs(span)) + 1e-12 * prof.weights.length)
                        problems.push(`${where}: the weights sum to ${sum}, endValue - startValue is ${span}`);
        });
        return problems;
}

function validate(validateSchema, file) {
        let bytes, text, doc;
        try {
                bytes = fs.readFileSync(file);
        } catch (e) {
                return [`cannot read: ${e.message}`];
        }
        try {
                // Strict UTF-8: the writer escapes every invalid sequence as \ufffd.
                text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch (e) {
                return [`not UTF-8: ${e.message}`];
        }
        try {
                doc = JSON.parse(text);
        } catch (e) {
                return [`not JSON: ${e.message}`];
        }
        if (!validateSchema(doc))
                return validateSchema.errors.map((e) => `schema: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
        return semanticProblems(doc);
}

function main(argv) {
        if (argv.length === 0) {
                console.error('usage: validate-speedscope.js FILE...');
                return 2;
        }
        const validateSchema = compileSchema();
        let failed = 0;
        for (const file of argv) {
                const problems = validate(validateSchema, file);
                for (const p of problems.slice(0, 50))
                        console.log(`${file}: ${p}`);
                if (problems.length > 50)
                        console.log(`${file}: ... and ${problems.length - 50} more`);
                if (problems.length > 0)
                        failed++;
                else
                        console.log(`${file}: ok`);
        }
        return failed > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));

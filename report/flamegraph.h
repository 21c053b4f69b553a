/* SPDX-License-Identifier: MIT */
#pragma once

/* The `record -f flamegraph` writer: one self-contained, interactive SVG (no network, no
 * external files) drawn from a Profile.
 *
 * Every stack is merged into a tree under a root frame "all"; siblings are ordered by name so
 * the same profile always gives the same picture. A frame's width is proportional to its
 * samples; frames narrower than 0.1 px are left out of the drawing but still counted in their
 * parents. Colours come from a hash of the frame's short file name (one hue family per
 * module, so the eye can group frames of one file).
 *
 * The embedded script holds no data: every string the target chose (function and file
 * names, thread labels, the command line) is XML-escaped into attributes and text, so a
 * hostile name can neither close the script's CDATA section nor inject markup. In a browser:
 * hovering shows the frame in a details line (and a <title> tooltip), clicking zooms a frame
 * to the full width ("Reset zoom" undoes it), "Search" or Ctrl-F asks for a regular
 * expression, paints the matching frames magenta and shows the share of samples under them;
 * Escape clears the search. Nothing here logs. */

#include <stdbool.h>
#include <stdio.h>

#include "profile.h"

typedef struct FlamegraphOptions {
        const char *title;      /* NULL: "pyspy-watch record: pid N (CMDLINE), Ds, N samples",
                                 * from the ProfileInfo */
        bool inverted;          /* false: the root at the top and the flames hanging down, as
                                 * py-spy draws them ("icicle"); true: the root at the bottom */
        unsigned width;         /* of the image in pixels; 0: 1200 */
} FlamegraphOptions;

/* Writes the SVG of p to f. opt may be NULL (all defaults). An empty profile gives a valid
 * SVG with only the root frame. Returns 0, -ENOMEM, or -EIO when the stream is in error. */
int flamegraph_write(FILE *f, const Profile *p, const FlamegraphOptions *opt);

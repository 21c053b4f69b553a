/* SPDX-License-Identifier: MIT */
#pragma once

/* Writers for strings that come from the target process. Such strings are untrusted: arbitrary
 * bytes, possibly invalid UTF-8, control characters, terminal escape sequences, markup. Every
 * byte the target chose goes through one of these functions before it reaches a terminal, a
 * JSON document or an SVG/HTML file.
 *
 * All of them decode UTF-8 strictly (RFC 3629): overlong forms ("\xc0\xaf"), UTF-16 surrogates
 * ("\xed\xa0\x80"), code points past U+10FFFF and truncated sequences are invalid. An invalid
 * stretch is cut as the Unicode standard recommends (one replacement per "maximal subpart", as
 * Python's decode(errors="replace") does), so "\xe2\x82A" is one bad sequence then "A", and
 * "\xc0\xaf" is two.
 *
 * Each function returns 0, or -EIO when the stream is in error afterwards (a failed write now
 * or earlier: the output is incomplete either way). They never log. The _n variants take an
 * explicit length and escape NUL bytes like any other control character; the plain ones stop
 * at the first NUL. */

#include <stddef.h>
#include <stdio.h>

/* A complete JSON string literal, quotes included; NULL is written as `null`.
 * Escaped: `"` and `\` as \" and \\; C0 controls, DEL, C1 controls (U+0080-U+009F), U+2028/
 * U+2029 and the bidirectional formatting characters term_write_string() shows escaped (all
 * legal raw in JSON, but hostile on a terminal that `cat`s the file, or in JavaScript) as
 * \uXXXX, which a JSON reader turns back into the same characters; each invalid sequence as
 * \ufffd. Other valid UTF-8 passes through. */
int json_write_string(FILE *f, const char *s);
int json_write_stringn(FILE *f, const char *s, size_t n);

/* Text for a terminal or a text file read on one. No byte that a terminal acts upon is ever
 * written raw: \t, \n and \r become the two characters \t, \n, \r; other C0 controls and DEL
 * become \xNN; C1 controls and the invisible bidirectional/line-breaking formatting characters
 * (U+061C, U+200E, U+200F, U+2028, U+2029, U+202A-U+202E, U+2066-U+2069: they reorder or
 * break what the reader sees) become \uNNNN; each byte of an invalid sequence becomes \xNN.
 * Everything else, including quotes and backslashes, is written as is: this output is for
 * reading, like py-spy's, and a local's repr() already carries Python's own backslash escapes,
 * which doubling would make unreadable. It is therefore not reversible; the JSON output is.
 * NULL writes nothing. */
int term_write_string(FILE *f, const char *s);
int term_write_stringn(FILE *f, const char *s, size_t n);

/* Character data for XML 1.0/SVG/HTML, safe both as element text and inside an attribute
 * quoted with either quote: & < > " ' become &amp; &lt; &gt; &quot; &apos;. Tab, LF and CR
 * become &#9; &#10; &#13; (an attribute value would otherwise normalise them to spaces).
 * Characters XML 1.0 forbids (other C0 controls, U+FFFE, U+FFFF) and the ones HTML rejects
 * (DEL, C1 controls), like every invalid sequence, become &#xFFFD; rather than vanishing, so
 * a reader can tell something was there. Bidirectional formatting characters are legal text
 * and kept: each label is an element of its own, which they cannot reach out of. NULL writes
 * nothing. */
int xml_write_string(FILE *f, const char *s);
int xml_write_stringn(FILE *f, const char *s, size_t n);

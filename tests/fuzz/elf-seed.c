/* SPDX-License-Identifier: MIT */
/* Not a test: the source of the ELF seeds of fuzz-elfsym (`make fuzz-seeds`), a tiny shared
 * object with the symbols and the version string pyfind looks for in a libpython. */
const char version_banner[] = "3.11.7 (main, Nov 25 2026, 09:00:00) [GCC 12.2.0]";
const char other_string[] = "3.11";
const unsigned Py_Version = 0x030b07f0;
char _PyRuntime[4096] = { 1 };
char PyUnicode_Type[512] = { 1 };
char PyLong_Type[512] = { 1 };
static char interp_head[8] __attribute__((used));
void *_PyThreadState_Current;
int Py_Initialize(void);
int Py_Initialize(void) {
        return interp_head[0];
}

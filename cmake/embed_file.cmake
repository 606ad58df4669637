# Writes OUT: a C file defining SYM (NUL-terminated) and SYM_len from the bytes of IN.
file(READ ${IN} hex HEX)
file(SIZE ${IN} size)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "(char)0x\\1," hex "${hex}")
file(WRITE ${OUT}.tmp "/* Generated; do not edit. */\n#include <stddef.h>\n"
     "extern const char ${SYM}[];\nextern const size_t ${SYM}_len;\n"
     "const char ${SYM}[] = {${hex} 0x00};\nconst size_t ${SYM}_len = ${size};\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)

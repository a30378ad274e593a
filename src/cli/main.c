#include "cairn.h"
#include <stdio.h>
int main(void) { printf("%s\n", cairn_version()); return 0; }

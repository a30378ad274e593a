#include "cairn.h"
#include <stdio.h>
#include <string.h>
int main(void) { return strcmp(cairn_version(), "0.1.0") != 0; }

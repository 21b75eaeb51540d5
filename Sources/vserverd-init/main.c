#include <stdio.h>
int main(void) { puts("init"); return 0; }

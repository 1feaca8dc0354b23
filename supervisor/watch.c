#include "watch.h"

extern int watch_placeholder;
int watch_placeholder;

#define PREFIX deep_now_
#include "deepbind_lib.h"

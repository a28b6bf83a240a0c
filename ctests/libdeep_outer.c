#define PREFIX deep_outer_
#include "deepbind_lib.h"

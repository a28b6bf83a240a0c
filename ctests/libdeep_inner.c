#define PREFIX deep_inner_
#include "deepbind_lib.h"

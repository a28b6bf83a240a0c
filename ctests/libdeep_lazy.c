#define PREFIX deep_lazy_
#include "deepbind_lib.h"

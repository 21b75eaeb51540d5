#include "vserver_spawn.h"

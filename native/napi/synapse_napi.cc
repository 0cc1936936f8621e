// N-API entry points of the synapse operations (see nn_register.h).
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace sl::napi {

void register_synapse_ops(Napi::Env env, Napi::Object exports) {}

}  // namespace sl::napi

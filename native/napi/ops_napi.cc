// N-API entry points of the tensor operations (see nn_register.h).
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace sl::napi {

void register_tensor_ops(Napi::Env env, Napi::Object exports) {}

}  // namespace sl::napi

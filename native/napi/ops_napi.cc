// N-API entry points of the tensor operations (see nn_register.h): pooling, readouts over time,
// losses, reductions and optimizer updates. Every size and length is checked here again, all
// arrays of a call must live in one place (Loc), and the call runs on the CPU (OpenMP), on the
// CPU emulation of the CUDA launch (`emulate: true`, host arrays) or on CUDA (device buffers).
#include <vector>

#include "core/ops_thread.h"
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace sl::napi {
namespace {

// A finite number (read as a double).
double get_num(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_type(o.Env(), std::string("native: '") + key + "' must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(o.Env(), std::string("native: '") + key + "' must be finite");
  return d;
}

// a * b, or a RangeError when the product exceeds kMaxElems.
int64_t mul(Napi::Env env, int64_t a, int64_t b, const char* what) {
  if (a != 0 && b > kMaxElems / a)
    throw_range(env, std::string("native: ") + what + " is too large");
  return a * b;
}

// Parses one call: `parse` reads the arguments with the device check active.
template <class Parse>
Napi::Object begin(const Napi::CallbackInfo& info, Loc& loc, Parse&& parse) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), "native: expected one argument object");
  Napi::Object o = info[0].As<Napi::Object>();
  g_loc = &loc;
  try {
    parse(o);
  } catch (...) {
    g_loc = nullptr;
    throw;
  }
  g_loc = nullptr;
  return o;
}

// Runs the call where its arrays live; returns the fixed-order sum of its partial sums.
double run(Napi::Env env, Napi::Object o, sl::OpCall& c, const Loc& loc) {
  std::vector<double> part(static_cast<size_t>(c.nPart));
  c.part = c.nPart > 0 ? part.data() : nullptr;
  const bool emulate = get_bool(o, "emulate");
  if (loc.device >= 0)
    cuda_call(env, [&] { sl::cuda_ops_run(c, loc.device); });
  else if (emulate)
    sl::ops_run_emulated(c, threads_now());
  else
    sl::ops_run_cpu(c, threads_now());
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

void parse_pool(Napi::Object o, sl::PoolArgs& a) {
  Napi::Env env = o.Env();
  a.N = get_int(o, "N", 1, kMaxElems);
  a.C = get_int(o, "C", 1, kMaxElems);
  a.H = get_int(o, "H", 1, kMaxElems);
  a.W = get_int(o, "W", 1, kMaxElems);
  a.kH = get_int(o, "kH", 1, a.H);
  a.kW = get_int(o, "kW", 1, a.W);
  a.sH = get_int(o, "sH", 1, kMaxElems);
  a.sW = get_int(o, "sW", 1, kMaxElems);
  a.sum = get_bool(o, "sum");
  a.Ho = (a.H - a.kH) / a.sH + 1;
  a.Wo = (a.W - a.kW) / a.sW + 1;
  mul(env, mul(env, mul(env, a.N, a.C, "N*C*H*W"), a.H, "N*C*H*W"), a.W, "N*C*H*W");
}

Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::PoolForward;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::PoolArgs& a = c.pool;
    parse_pool(o, a);
    a.x = f32(o, "x", a.N * a.C * a.H * a.W, false, keep);
    a.y = f32(o, "y", a.N * a.C * a.Ho * a.Wo, false, keep);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::PoolBackward;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::PoolArgs& a = c.pool;
    parse_pool(o, a);
    const int64_t nOut = a.N * a.C * a.Ho * a.Wo;
    a.gradOut = f32(o, "gradOut", nOut, false, keep);
    if (a.sum) a.out = f32(o, "out", nOut, false, keep);
    a.gradIn = f32(o, "gradIn", a.N * a.C * a.H * a.W, false, keep);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

void parse_time(Napi::Object o, sl::TimeArgs& a) {
  Napi::Env env = o.Env();
  a.B = get_int(o, "B", 1, kMaxElems);
  a.T = get_int(o, "T", 1, kMaxElems);
  a.F = get_int(o, "F", 1, kMaxElems);
  a.mode = static_cast<int>(get_int(o, "mode", 0, 2));
  mul(env, mul(env, a.B, a.T, "B*T*F"), a.F, "B*T*F");
  if (a.mode == 1 && a.T > (int64_t(1) << 24))
    throw_range(env, "native: max over time needs T <= 2^24");
}

Napi::Value TimeForward(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::TimeForward;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::TimeArgs& a = c.time;
    parse_time(o, a);
    a.x = f32(o, "x", a.B * a.T * a.F, false, keep);
    a.y = f32(o, "y", a.B * a.F, false, keep);
    if (a.mode == 1) a.argOut = f32(o, "arg", a.B * a.F, false, keep);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

Napi::Value TimeBackward(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::TimeBackward;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::TimeArgs& a = c.time;
    parse_time(o, a);
    a.gradOut = f32(o, "gradOut", a.B * a.F, false, keep);
    if (a.mode == 1) a.argIn = f32(o, "arg", a.B * a.F, false, keep);
    a.gradIn = f32(o, "gradIn", a.B * a.T * a.F, false, keep);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

// Returns the mean squared error; writes dL/d(output).
Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::Mse;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::LossArgs& a = c.loss;
    a.n = get_int(o, "n", 1, kMaxElems);
    a.a = f32(o, "output", a.n, false, keep);
    a.b = f32(o, "target", a.n, false, keep);
    a.grad = f32(o, "grad", a.n, false, keep);
    c.nPart = sl::reduce_parts(a.n);
  });
  const double s = run(info.Env(), o, c, loc);
  return Napi::Number::New(info.Env(), s / static_cast<double>(c.loss.n));
}

// Returns the mean cross-entropy over the batch; writes dL/d(logits).
Napi::Value CrossEntropyLoss(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::CrossEntropy;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::LossArgs& a = c.loss;
    a.B = get_int(o, "B", 1, kMaxElems);
    a.C = get_int(o, "C", 1, kMaxElems);
    a.n = mul(o.Env(), a.B, a.C, "B*C");
    a.a = f32(o, "logits", a.n, false, keep);
    a.b = f32(o, "labels", a.B, false, keep);
    a.grad = f32(o, "grad", a.n, false, keep);
    c.nPart = a.B;
  });
  const double s = run(info.Env(), o, c, loc);
  return Napi::Number::New(info.Env(), s / static_cast<double>(c.loss.B));
}

// Returns the sum of squares of the first n elements of x (double, fixed order).
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::SumSquares;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    c.vec.n = get_int(o, "n", 0, kMaxElems);
    c.vec.x = f32(o, "x", c.vec.n, false, keep);
    c.nPart = sl::reduce_parts(c.vec.n);
  });
  return Napi::Number::New(info.Env(), run(info.Env(), o, c, loc));
}

// x *= s on the first n elements.
Napi::Value ScaleInPlace(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::Scale;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    c.vec.n = get_int(o, "n", 0, kMaxElems);
    c.vec.x = f32(o, "x", c.vec.n, false, keep);
    c.vec.s = static_cast<float>(get_num(o, "s"));
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

void parse_opt_common(Napi::Object o, sl::OptArgs& a, Keep& keep) {
  a.n = get_int(o, "n", 0, kMaxElems);
  a.p = f32(o, "p", a.n, false, keep);
  a.g = f32(o, "g", a.n, false, keep);
  a.lr = static_cast<float>(get_num(o, "lr"));
  a.weightDecay = static_cast<float>(get_num(o, "weightDecay"));
  a.hasMin = get_bool(o, "hasMin");
  if (a.hasMin) a.minValue = static_cast<float>(get_num(o, "min"));
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::Sgd;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::OptArgs& a = c.opt;
    parse_opt_common(o, a, keep);
    const double momentum = get_num(o, "momentum");
    a.momentum = static_cast<float>(momentum);
    a.oneMinusDampening = static_cast<float>(1.0 - get_num(o, "dampening"));
    a.nesterov = get_bool(o, "nesterov");
    a.first = get_bool(o, "first");
    if (momentum != 0.0) a.m = f32(o, "buf", a.n, false, keep);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  sl::OpCall c;
  c.kind = sl::OpKind::Adam;
  Keep keep;
  Loc loc;
  Napi::Object o = begin(info, loc, [&](Napi::Object o) {
    sl::OptArgs& a = c.opt;
    parse_opt_common(o, a, keep);
    a.m = f32(o, "m", a.n, false, keep);
    a.v = f32(o, "v", a.n, false, keep);
    const double lr = get_num(o, "lr"), wd = get_num(o, "weightDecay");
    const double b1 = get_num(o, "beta1"), b2 = get_num(o, "beta2");
    const double step = static_cast<double>(get_int(o, "step", 1, int64_t(1) << 53));
    a.decoupled = get_bool(o, "decoupled");
    a.beta1 = static_cast<float>(b1);
    a.beta2 = static_cast<float>(b2);
    a.oneMinusBeta1 = static_cast<float>(1.0 - b1);
    a.oneMinusBeta2 = static_cast<float>(1.0 - b2);
    a.eps = static_cast<float>(get_num(o, "eps"));
    // the step-dependent scalars in double, as PyTorch computes them in Python
    a.stepSize = static_cast<float>(lr / (1.0 - std::pow(b1, step)));
    a.bc2Sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(b2, step)));
    a.decay = static_cast<float>(1.0 - lr * wd);
  });
  run(info.Env(), o, c, loc);
  return info.Env().Undefined();
}

}  // namespace

void register_tensor_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("poolForward", Napi::Function::New(env, PoolForward, "poolForward"));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBackward, "poolBackward"));
  exports.Set("timeForward", Napi::Function::New(env, TimeForward, "timeForward"));
  exports.Set("timeBackward", Napi::Function::New(env, TimeBackward, "timeBackward"));
  exports.Set("mseLoss", Napi::Function::New(env, MseLoss, "mseLoss"));
  exports.Set("crossEntropyLoss", Napi::Function::New(env, CrossEntropyLoss, "crossEntropyLoss"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
  exports.Set("scaleInPlace", Napi::Function::New(env, ScaleInPlace, "scaleInPlace"));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep, "adamStep"));
}

}  // namespace sl::napi

// N-API entry points of the synaptic-layer operations (see nn_register.h; contract in
// core/synapse_args.h). Each takes one argument object, checks every length against the sizes it
// is given (overflow-safe), finds where the arrays live (all host or all on one CUDA device) and
// runs the CPU implementation, the CPU emulation of the CUDA launch (`emulate: true`, host arrays)
// or the CUDA launcher. All calls are synchronous.
#include <climits>

#include "cpu/emulated_synapse.h"

#include <algorithm>
#include <vector>
#include "cpu/synapse_cpu.h"
#include "cuda/synapse_cuda.h"
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace sl::napi {
namespace {

enum class Where { Cpu, Emulated, Cuda };

// Tracks the device of the arrays read while it is alive (g_loc), restoring the previous tracker.
struct LocScope {
  Loc loc;
  Loc* saved;
  LocScope() : saved(g_loc) { g_loc = &loc; }
  ~LocScope() { g_loc = saved; }
  LocScope(const LocScope&) = delete;
  LocScope& operator=(const LocScope&) = delete;
};

Napi::Object args_of(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), std::string("native ") + fn + ": expected one argument object");
  return info[0].As<Napi::Object>();
}

// a * b, or a RangeError when the product exceeds kMaxElems.
int64_t mul(Napi::Env env, int64_t a, int64_t b, const char* what) {
  if (a != 0 && b > kMaxElems / a)
    throw_range(env, std::string("native: ") + what + " has more than " +
                         std::to_string(kMaxElems) + " elements");
  return a * b;
}

int64_t dim(Napi::Object o, const char* key) { return get_int(o, key, 0, kMaxElems); }

Where where_of(Napi::Env env, const Loc& loc, Napi::Object o) {
  if (loc.device >= 0) return Where::Cuda;
  return get_bool(o, "emulate") ? Where::Emulated : Where::Cpu;
}

// cblas takes 32-bit sizes and leading dimensions.
void check_blas_int(Napi::Env env, const char* fn,
                    std::initializer_list<std::pair<const char*, int64_t>> dims) {
  for (const auto& [key, v] : dims)
    if (v > INT_MAX)
      throw_range(env, std::string("native ") + fn + ": '" + key +
                           "' must be <= " + std::to_string(INT_MAX) + " on the CPU");
}

// ---- gemm -------------------------------------------------------------------------------------
// { M, N, K, transA?, transB?, accumulate?, A (M*K), B (K*N), C (M*N), bias? (N), emulate? }
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "gemm");
  Keep keep;
  GemmArgs a;
  LocScope scope;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.K = dim(o, "K");
  a.transA = get_bool(o, "transA");
  a.transB = get_bool(o, "transB");
  a.accumulate = get_bool(o, "accumulate");
  a.A = f32(o, "A", mul(env, a.M, a.K, "A (M*K)"), false, keep);
  a.B = f32(o, "B", mul(env, a.K, a.N, "B (K*N)"), false, keep);
  a.C = f32(o, "C", mul(env, a.M, a.N, "C (M*N)"), false, keep);
  a.bias = f32(o, "bias", a.N, true, keep);
  switch (where_of(env, scope.loc, o)) {
    case Where::Cuda: {
      const int dev = scope.loc.device;
      cuda_call(env, [&] { cuda_gemm(a, dev); });
      break;
    }
    case Where::Emulated: gemm_emulated(a, threads_now()); break;
    case Where::Cpu:
      check_blas_int(env, "gemm", {{"M", a.M}, {"N", a.N}, {"K", a.K}});
      gemm_cpu(a, threads_now());
      break;
  }
  return env.Undefined();
}

// ---- im2col / col2im --------------------------------------------------------------------------
// { N, C, H, W, kH, kW, sH, sW, pH, pW, x (N*C*H*W), cols (N*Ho*Wo * C*kH*kW), emulate? }
void parse_im2col(Napi::Env env, Napi::Object o, Im2colArgs& a, Keep& keep) {
  ConvGeom& g = a.g;
  g.N = dim(o, "N");
  g.C = dim(o, "C");
  g.H = dim(o, "H");
  g.W = dim(o, "W");
  g.kH = get_int(o, "kH", 1, kMaxElems);
  g.kW = get_int(o, "kW", 1, kMaxElems);
  g.sH = get_int(o, "sH", 1, kMaxElems);
  g.sW = get_int(o, "sW", 1, kMaxElems);
  g.pH = get_int(o, "pH", 0, kMaxElems);
  g.pW = get_int(o, "pW", 0, kMaxElems);
  if (g.H + 2 * g.pH < g.kH || g.W + 2 * g.pW < g.kW)
    throw_range(env, "native: the kernel (" + std::to_string(g.kH) + "x" + std::to_string(g.kW) +
                         ") is larger than the padded input (" + std::to_string(g.H + 2 * g.pH) +
                         "x" + std::to_string(g.W + 2 * g.pW) + ")");
  const int64_t plane = mul(env, g.H, g.W, "x (H*W)");
  const int64_t xn = mul(env, mul(env, g.N, g.C, "x (N*C)"), plane, "x (N*C*H*W)");
  const int64_t pix = mul(env, mul(env, g.N, g.Ho(), "cols (N*Ho)"), g.Wo(), "cols (N*Ho*Wo)");
  const int64_t ck = mul(env, mul(env, g.C, g.kH, "cols (C*kH)"), g.kW, "cols (C*kH*kW)");
  const int64_t cn = mul(env, pix, ck, "cols (N*Ho*Wo*C*kH*kW)");
  a.x = f32(o, "x", xn, false, keep);
  a.cols = f32(o, "cols", cn, false, keep);
}

Napi::Value Im2colOrCol2im(const Napi::CallbackInfo& info, bool forward) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, forward ? "im2col" : "col2im");
  Keep keep;
  Im2colArgs a;
  LocScope scope;
  parse_im2col(env, o, a, keep);
  switch (where_of(env, scope.loc, o)) {
    case Where::Cuda: {
      const int dev = scope.loc.device;
      cuda_call(env, [&] { forward ? cuda_im2col(a, dev) : cuda_col2im(a, dev); });
      break;
    }
    case Where::Emulated:
      forward ? im2col_emulated(a, threads_now()) : col2im_emulated(a, threads_now());
      break;
    case Where::Cpu: forward ? im2col_cpu(a, threads_now()) : col2im_cpu(a, threads_now()); break;
  }
  return env.Undefined();
}
Napi::Value Im2col(const Napi::CallbackInfo& info) { return Im2colOrCol2im(info, true); }
Napi::Value Col2im(const Napi::CallbackInfo& info) { return Im2colOrCol2im(info, false); }

// ---- transpose --------------------------------------------------------------------------------
// { batch, rows, cols, src (batch*rows*cols), dst (same), emulate? }
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "transpose");
  Keep keep;
  TransposeArgs a;
  LocScope scope;
  a.batch = dim(o, "batch");
  a.rows = dim(o, "rows");
  a.cols = dim(o, "cols");
  const int64_t n =
      mul(env, mul(env, a.batch, a.rows, "src (batch*rows)"), a.cols, "src (batch*rows*cols)");
  a.src = f32(o, "src", n, false, keep);
  a.dst = f32(o, "dst", n, false, keep);
  switch (where_of(env, scope.loc, o)) {
    case Where::Cuda: {
      const int dev = scope.loc.device;
      cuda_call(env, [&] { cuda_transpose(a, dev); });
      break;
    }
    case Where::Emulated: transpose_emulated(a, threads_now()); break;
    case Where::Cpu: transpose_cpu(a, threads_now()); break;
  }
  return env.Undefined();
}

// ---- sumRows ----------------------------------------------------------------------------------
// { M, N, accumulate?, src (M*N), dst (N), emulate? }
Napi::Value SumRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "sumRows");
  Keep keep;
  SumRowsArgs a;
  LocScope scope;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.accumulate = get_bool(o, "accumulate");
  a.src = f32(o, "src", mul(env, a.M, a.N, "src (M*N)"), false, keep);
  a.dst = f32(o, "dst", a.N, false, keep);
  switch (where_of(env, scope.loc, o)) {
    case Where::Cuda: {
      const int dev = scope.loc.device;
      cuda_call(env, [&] { cuda_sum_rows(a, dev); });
      break;
    }
    case Where::Emulated: sum_rows_emulated(a, threads_now()); break;
    case Where::Cpu: sum_rows_cpu(a, threads_now()); break;
  }
  return env.Undefined();
}

// ---- event-driven (sparse) Linear paths: host arrays only -------------------------------------
void host_only(Napi::Env env, const Loc& loc, const char* fn) {
  if (loc.device >= 0)
    throw_type(env, std::string("native ") + fn + ": runs on the CPU only (host Float32Arrays)");
}

// { n, x (n) } -> the number of nonzero elements of x[0..n)
Napi::Value CountNonzero(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "countNonzero");
  Keep keep;
  LocScope scope;
  const int64_t n = dim(o, "n");
  const float* x = f32(o, "x", n, false, keep);
  host_only(env, scope.loc, "countNonzero");
  return Napi::Number::New(env,
                           static_cast<double>(n ? count_nonzero_cpu(x, n, threads_now()) : 0));
}

// { M, N, K, x (M*K), wT (K*N), bias? (N), y (M*N) }
Napi::Value LinearSparseForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "linearSparseForward");
  Keep keep;
  LocScope scope;
  LinearSparseForwardArgs a;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.K = dim(o, "K");
  a.x = f32(o, "x", mul(env, a.M, a.K, "x (M*K)"), false, keep);
  a.wT = f32(o, "wT", mul(env, a.K, a.N, "wT (K*N)"), false, keep);
  a.bias = f32(o, "bias", a.N, true, keep);
  a.y = f32(o, "y", mul(env, a.M, a.N, "y (M*N)"), false, keep);
  host_only(env, scope.loc, "linearSparseForward");
  linear_sparse_forward_cpu(a, threads_now());
  return env.Undefined();
}

// { M, N, K, accumulate?, x (M*K), gradOut (M*N), gradWeight (N*K) }
Napi::Value LinearSparseWeightGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "linearSparseWeightGrad");
  Keep keep;
  LocScope scope;
  LinearSparseWeightGradArgs a;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.K = dim(o, "K");
  a.accumulate = get_bool(o, "accumulate");
  a.x = f32(o, "x", mul(env, a.M, a.K, "x (M*K)"), false, keep);
  a.dY = f32(o, "gradOut", mul(env, a.M, a.N, "gradOut (M*N)"), false, keep);
  a.gW = f32(o, "gradWeight", mul(env, a.N, a.K, "gradWeight (N*K)"), false, keep);
  host_only(env, scope.loc, "linearSparseWeightGrad");
  linear_sparse_weight_grad_cpu(a, threads_now());
  return env.Undefined();
}

// ---- event-driven Linear on a CSR input (host arrays only) ------------------------------------
// { M, K, x (M*K), maxNnz } -> { rowPtr (M+1), cols, vals } (the CSR index of x's nonzeros,
// columns ascending within a row), or null when x has more than maxNnz nonzeros (or 2^31 - 1).
Napi::Value CsrBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "csrBuild");
  Keep keep;
  LocScope scope;
  const int64_t M = dim(o, "M"), K = dim(o, "K");
  const float* x = f32(o, "x", mul(env, M, K, "x (M*K)"), false, keep);
  const int64_t maxNnz = get_int(o, "maxNnz", 0, kMaxElems);
  host_only(env, scope.loc, "csrBuild");
  if (M + 1 > INT32_MAX) return env.Null();
  Napi::Int32Array rowPtr = Napi::Int32Array::New(env, static_cast<size_t>(M + 1));
  const int64_t nnz = csr_row_ptr_cpu(x, M, K, rowPtr.Data(), threads_now());
  if (nnz < 0 || nnz > maxNnz) return env.Null();
  Napi::Int32Array cols = Napi::Int32Array::New(env, static_cast<size_t>(nnz));
  Napi::Float32Array vals = Napi::Float32Array::New(env, static_cast<size_t>(nnz));
  if (nnz > 0) csr_fill_cpu(x, M, K, rowPtr.Data(), cols.Data(), vals.Data(), threads_now());
  Napi::Object out = Napi::Object::New(env);
  out.Set("rowPtr", rowPtr);
  out.Set("cols", cols);
  out.Set("vals", vals);
  return out;
}

// Reads and checks a CSR input { rowPtr (M+1), cols, vals } of an (M, K) matrix: rowPtr starts at
// 0 and never decreases, cols and vals hold rowPtr[M] entries, every column lies in [0, K).
void read_csr(Napi::Env env, Napi::Object o, int64_t M, int64_t K, Keep& keep,
              const int32_t*& rowPtr, const int32_t*& cols, const float*& vals, const char* fn) {
  rowPtr = i32(o, "rowPtr", M + 1, false, keep);
  if (rowPtr[0] != 0) throw_range(env, std::string("native ") + fn + ": 'rowPtr' must start at 0");
  for (int64_t m = 0; m < M; ++m)
    if (rowPtr[m + 1] < rowPtr[m])
      throw_range(env, std::string("native ") + fn + ": 'rowPtr' must not decrease");
  const int64_t nnz = rowPtr[M];
  cols = i32(o, "cols", nnz, false, keep);
  vals = f32(o, "vals", nnz, false, keep);
  for (int64_t p = 0; p < nnz; ++p)
    if (cols[p] < 0 || cols[p] >= K)
      throw_range(env, std::string("native ") + fn + ": 'cols' entries must lie in [0, K)");
}

// { M, N, K, rowPtr, cols, vals, wT (K*N), bias? (N), y (M*N) }
Napi::Value LinearCsrForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "linearCsrForward");
  Keep keep;
  LocScope scope;
  LinearCsrForwardArgs a;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.K = dim(o, "K");
  read_csr(env, o, a.M, a.K, keep, a.rowPtr, a.cols, a.vals, "linearCsrForward");
  a.wT = f32(o, "wT", mul(env, a.K, a.N, "wT (K*N)"), false, keep);
  a.bias = f32(o, "bias", a.N, true, keep);
  a.y = f32(o, "y", mul(env, a.M, a.N, "y (M*N)"), false, keep);
  host_only(env, scope.loc, "linearCsrForward");
  linear_csr_forward_cpu(a, threads_now());
  return env.Undefined();
}

// { M, N, K, accumulate?, rowPtr, cols, vals, gradOut (M*N), gradWeight (N*K) }
Napi::Value LinearCsrWeightGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = args_of(info, "linearCsrWeightGrad");
  Keep keep;
  LocScope scope;
  LinearCsrWeightGradArgs a;
  a.M = dim(o, "M");
  a.N = dim(o, "N");
  a.K = dim(o, "K");
  a.accumulate = get_bool(o, "accumulate");
  read_csr(env, o, a.M, a.K, keep, a.rowPtr, a.cols, a.vals, "linearCsrWeightGrad");
  a.dY = f32(o, "gradOut", mul(env, a.M, a.N, "gradOut (M*N)"), false, keep);
  a.gW = f32(o, "gradWeight", mul(env, a.N, a.K, "gradWeight (N*K)"), false, keep);
  host_only(env, scope.loc, "linearCsrWeightGrad");
  linear_csr_weight_grad_cpu(a, threads_now());
  return env.Undefined();
}

}  // namespace

void register_synapse_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("im2col", Napi::Function::New(env, Im2col, "im2col"));
  exports.Set("col2im", Napi::Function::New(env, Col2im, "col2im"));
  exports.Set("transpose", Napi::Function::New(env, Transpose, "transpose"));
  exports.Set("sumRows", Napi::Function::New(env, SumRows, "sumRows"));
  exports.Set("countNonzero", Napi::Function::New(env, CountNonzero, "countNonzero"));
  exports.Set("linearSparseForward",
              Napi::Function::New(env, LinearSparseForward, "linearSparseForward"));
  exports.Set("linearSparseWeightGrad",
              Napi::Function::New(env, LinearSparseWeightGrad, "linearSparseWeightGrad"));
  exports.Set("csrBuild", Napi::Function::New(env, CsrBuild, "csrBuild"));
  exports.Set("linearCsrForward", Napi::Function::New(env, LinearCsrForward, "linearCsrForward"));
  exports.Set("linearCsrWeightGrad",
              Napi::Function::New(env, LinearCsrWeightGrad, "linearCsrWeightGrad"));
}

}  // namespace sl::napi

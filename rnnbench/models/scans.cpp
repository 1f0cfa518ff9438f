// The cell backend's compiled scans (native.py builds them on first use): forward and backward
// through time of rnn (tanh, sigmoid, relu), lstm and gru, each over a group of S independent
// seeds (models) at once. Every tensor leads with the seed dimension S; a solo model is S = 1.
//
// rnn, per step t, over the rows r < sizes[t] still running (the batch is sorted longest first):
//   h_t    = act(gx_t + h_{t-1} W_hh^T)      gx = W_ih x + b_ih + b_hh
// lstm:
//   a      = gx_t + h_{t-1} W_hh^T          gx = W_ih x (no bias)
//   i, f, o = sigmoid(a_i + b_i), sigmoid(a_f + b_f), sigmoid(a_o + b_o);  g = tanh(a_g + b_g)
//   c_t    = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
// gru (torch.nn's variant):
//   gh     = h_{t-1} W_hh^T + b_hh
//   r, z   = sigmoid(gx_r + gh_r), sigmoid(gx_z + gh_z);   n = tanh(gx_n + r * gh_n)
//   h_t    = (1 - z) * n + z * h_{t-1}
// The backward scans run t = T-1 .. 0 with dh (dL/dh_t from later steps, and for lstm dc) carried:
// per step one fused pass forms dL/d(pre-activations) of the step from the saved activations,
// then dh_{t-1} = dgates_t W_hh (ATen's mm; gru adds the direct path dh_t * z). The products
// for dW_hh, dW_ih and the biases are left to the caller, one batched matmul each.
//
// Per step, the recurrent product of every seed is one ATen call, at::bmm over the seeds into a
// contiguous [S, B, G] scratch (one call per seed cost 2-3x more at S = 8: each call's dispatch
// and small-matrix setup, and a strided output), then the elementwise pass, vectorised (AVX2 +
// FMA where the build has them), spreads over ATen's threads by (seed, row) and adds the
// product in. Rows and seeds are independent, and bmm computes each seed's matrix as it would
// alone (MKL's batched GEMM), so a seed's result does not depend on the number of threads, on
// S, or on the other seeds of its group (tests/models/test_grouped_scans.py checks it bitwise). exp is Cephes' single-precision polynomial
// (about 1 ulp), 1/x a hardware estimate refined by one Newton step; NaN propagates (a diverged
// run still shows NaN), and no input gives inf.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <initializer_list>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static inline __m256 exp8(__m256 x) {
  // NaN passes both clamps (min/max return their second operand when one is NaN).
  x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
  x = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);        // x - n ln2, in two parts
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  // times 2^n, as 2^(n/2) 2^(n - n/2) so that n = 128 stays finite
  __m256i k = _mm256_cvtps_epi32(n);
  __m256i k1 = _mm256_srai_epi32(k, 1), k2 = _mm256_sub_epi32(k, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
}

static inline __m256 sigmoid8(__m256 x) {  // 1 / (1 + exp(-x))
  // 1 / d: the 12-bit estimate and one Newton step, r (2 - d r), within 2 ulp for d in
  // [1, 2.4e38] (exp8 never returns inf); NaN stays NaN
  __m256 d = _mm256_add_ps(_mm256_set1_ps(1.f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x)));
  __m256 r = _mm256_rcp_ps(d);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.f)));
}

static inline __m256 tanh8(__m256 x) {  // 2 sigmoid(2x) - 1
  return _mm256_fmsub_ps(_mm256_set1_ps(2.f), sigmoid8(_mm256_add_ps(x, x)), _mm256_set1_ps(1.f));
}
#endif

static inline float sigmoid1(float x) { return 1.f / (1.f + std::exp(-x)); }

// ------------------------------------------------------------------------------- shared
// The arguments every scan shares the rules of: float32, contiguous, on the CPU, S leading;
// sizes[t] (the rows running at step t) non-increasing within [0, B], and all B when S > 1
// (a group has no lengths).
static void check_args(const char* op, std::initializer_list<const at::Tensor*> tensors,
                       c10::IntArrayRef sizes, int64_t S, int64_t T, int64_t B) {
  for (const at::Tensor* t : tensors) {
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous() && t->device().is_cpu(), op,
                ": float32 contiguous CPU tensors expected");
    TORCH_CHECK(t->dim() >= 1 && t->size(0) == S, op, ": every tensor leads with the seed dimension S = ", S);
  }
  TORCH_CHECK(static_cast<int64_t>(sizes.size()) == T, op, ": ", T, " sizes expected");
  for (int64_t t = 0; t < T; ++t) {
    TORCH_CHECK(sizes[t] >= 0 && sizes[t] <= B && (t == 0 || sizes[t] <= sizes[t - 1]), op,
                ": sizes must be non-increasing within [0, ", B, "]");
    TORCH_CHECK(S == 1 || sizes[t] == B, op, ": lengths (sizes below B) need S = 1, got S = ", S);
  }
}

static void check_shape(const char* op, const char* name, const at::Tensor& t, c10::IntArrayRef shape) {
  TORCH_CHECK(t.sizes() == shape, op, ": ", name, " must have shape ", shape, ", got ", t.sizes());
}

// The elementwise pass of one step: fn(s, r) for every seed s < S and row r < b, over ATen's
// threads (grain: 4 rows).
template <typename F>
static inline void each_row(int64_t S, int64_t b, const F& fn) {
  at::parallel_for(0, S * b, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i / b, i % b);
  });
}

// ---------------------------------------------------------------------------------- rnn
enum Act : int64_t { kTanh = 0, kSigmoid = 1, kRelu = 2 };  // recurrent.py: scan_functions.ACT_CODE

// One row, in place: a[H] = act(a + m), m = W_hh h_{t-1}.
static inline void act_row(float* a, const float* m, int64_t H, int64_t act) {
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 zero = _mm256_setzero_ps();
  for (; j + 8 <= H; j += 8) {
    __m256 x = _mm256_add_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(m + j));
    // relu: max(0, x) returns its second operand, x, when x is NaN
    x = act == kTanh ? tanh8(x) : act == kSigmoid ? sigmoid8(x) : _mm256_max_ps(zero, x);
    _mm256_storeu_ps(a + j, x);
  }
#endif
  for (; j < H; ++j) {
    float x = a[j] + m[j];
    a[j] = act == kTanh ? std::tanh(x) : act == kSigmoid ? sigmoid1(x) : (x > 0.f || std::isnan(x) ? x : 0.f);
  }
}

// One row of the backward pass: d[H] = (dh + dout) * act'(z), act' from y = act(z).
static inline void act_grad_row(const float* __restrict__ y, const float* __restrict__ dh,
                                const float* __restrict__ dout, float* __restrict__ d, int64_t H,
                                int64_t act) {
  if (act == kTanh) {
    for (int64_t j = 0; j < H; ++j) d[j] = (dh[j] + dout[j]) * (1.f - y[j] * y[j]);
  } else if (act == kSigmoid) {
    for (int64_t j = 0; j < H; ++j) d[j] = (dh[j] + dout[j]) * (y[j] * (1.f - y[j]));
  } else {
    for (int64_t j = 0; j < H; ++j) d[j] = y[j] > 0.f ? dh[j] + dout[j] : 0.f;
  }
}

static void check_act(const char* op, int64_t act) {
  TORCH_CHECK(act == kTanh || act == kSigmoid || act == kRelu, op, ": act must be 0 (tanh), 1 (sigmoid) or 2 (relu), got ", act);
}

// out [S, T, B, H]: gx = W_ih x + b_ih + b_hh on entry, h_t of the running rows on exit (the
// others keep their entry); h0 [S, B, H]; w_hh [S, H, H]; act: kTanh, kSigmoid or kRelu.
void rnn_scan(at::Tensor out, at::Tensor h0, at::Tensor w_hh, c10::IntArrayRef sizes, int64_t act) {
  const int64_t S = out.size(0), T = out.size(1), B = out.size(2), H = out.size(3);
  check_args("rnn_scan", {&out, &h0, &w_hh}, sizes, S, T, B);
  check_shape("rnn_scan", "h0", h0, {S, B, H});
  check_shape("rnn_scan", "w_hh", w_hh, {S, H, H});
  check_act("rnn_scan", act);
  at::Tensor wt = w_hh.transpose(1, 2), m = at::empty({S, B, H}, out.options());
  float *op = out.data_ptr<float>(), *mp = m.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t b = sizes[t];
    at::Tensor m_t = m.narrow(1, 0, b);
    at::bmm_out(m_t, (t ? out.select(1, t - 1) : h0).narrow(1, 0, b), wt);
    each_row(S, b, [&](int64_t s, int64_t r) {
      act_row(op + ((s * T + t) * B + r) * H, mp + (s * B + r) * H, H, act);
    });
  }
}

// out [S, T, B, H] and h0 [S, B, H] as rnn_scan's (out: its exit); w_hh [S, H, H]; dout
// [S, T, B, H] = dL/dout; dh [S, B, H]: dL/dh_n on entry, dL/dh0 on exit (rows past their end
// carry theirs to the step they end at); dpre [S, T, B, H] receives dL/d(pre-activation) of
// the running rows (the others are not written).
void rnn_scan_backward(at::Tensor out, at::Tensor w_hh, at::Tensor dout, at::Tensor dh,
                       at::Tensor dpre, c10::IntArrayRef sizes, int64_t act) {
  const int64_t S = out.size(0), T = out.size(1), B = out.size(2), H = out.size(3);
  check_args("rnn_scan_backward", {&out, &w_hh, &dout, &dh, &dpre}, sizes, S, T, B);
  check_shape("rnn_scan_backward", "w_hh", w_hh, {S, H, H});
  check_shape("rnn_scan_backward", "dout", dout, {S, T, B, H});
  check_shape("rnn_scan_backward", "dh", dh, {S, B, H});
  check_shape("rnn_scan_backward", "dpre", dpre, {S, T, B, H});
  check_act("rnn_scan_backward", act);
  const float *yp = out.data_ptr<float>(), *gp = dout.data_ptr<float>();
  float *dhp = dh.data_ptr<float>(), *dp = dpre.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t b = sizes[t];
    each_row(S, b, [&](int64_t s, int64_t r) {
      const int64_t k = ((s * T + t) * B + r) * H;
      act_grad_row(yp + k, dhp + (s * B + r) * H, gp + k, dp + k, H, act);
    });
    at::Tensor d = dh.narrow(1, 0, b);
    at::bmm_out(d, dpre.select(1, t).narrow(1, 0, b), w_hh);
  }
}

// --------------------------------------------------------------------------------- lstm
// One row: gate pre-activations a[4H] = W_ih x (activated in place), m[4H] = W_hh h_{t-1},
// bias b[4H], c_prev[H] -> c, tc, h.
static inline void lstm_row(float* a, const float* m, const float* b, const float* c_prev, float* c,
                            float* tc, float* h, int64_t H) {
  float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
  const float *mi = m, *mf = m + H, *mg = m + 2 * H, *mo = m + 3 * H;
  const float *bi = b, *bf = b + H, *bg = b + 2 * H, *bo = b + 3 * H;
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  auto pre = [&](const float* x, const float* y, const float* z) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)), _mm256_loadu_ps(z + j));
  };
  for (; j + 8 <= H; j += 8) {
    __m256 i = sigmoid8(pre(ai, mi, bi));
    __m256 f = sigmoid8(pre(af, mf, bf));
    __m256 g = tanh8(pre(ag, mg, bg));
    __m256 o = sigmoid8(pre(ao, mo, bo));
    __m256 cn = _mm256_fmadd_ps(f, _mm256_loadu_ps(c_prev + j), _mm256_mul_ps(i, g));
    __m256 tcn = tanh8(cn);
    _mm256_storeu_ps(ai + j, i);
    _mm256_storeu_ps(af + j, f);
    _mm256_storeu_ps(ag + j, g);
    _mm256_storeu_ps(ao + j, o);
    _mm256_storeu_ps(c + j, cn);
    _mm256_storeu_ps(tc + j, tcn);
    _mm256_storeu_ps(h + j, _mm256_mul_ps(o, tcn));
  }
#endif
  for (; j < H; ++j) {
    float i = sigmoid1(ai[j] + mi[j] + bi[j]), f = sigmoid1(af[j] + mf[j] + bf[j]);
    float g = std::tanh(ag[j] + mg[j] + bg[j]), o = sigmoid1(ao[j] + mo[j] + bo[j]);
    float cn = f * c_prev[j] + i * g, tcn = std::tanh(cn);
    ai[j] = i, af[j] = f, ag[j] = g, ao[j] = o;
    c[j] = cn, tc[j] = tcn, h[j] = o * tcn;
  }
}

// gates [S, T, B, 4H]: W_ih x_t on entry (no bias), the activated i, f, g, o of the running rows
// on exit; bias [S, 4H] = b_ih + b_hh; h0, c0 [S, B, H]; w_hh [S, 4H, H]; out [S, T, B, H].
// keep: cs and tanh_cs are [S, T, B, H] and receive c_t and tanh(c_t) (for the backward pass).
// Otherwise they are [S, B, H] scratch: cs holds c0 on entry and each row's last c on exit.
void lstm_scan(at::Tensor gates, at::Tensor bias, at::Tensor h0, at::Tensor c0, at::Tensor w_hh,
               at::Tensor out, at::Tensor cs, at::Tensor tanh_cs, c10::IntArrayRef sizes, bool keep) {
  const int64_t S = gates.size(0), T = gates.size(1), B = gates.size(2), H = out.size(3), G = 4 * H;
  check_args("lstm_scan", {&gates, &bias, &h0, &c0, &w_hh, &out, &cs, &tanh_cs}, sizes, S, T, B);
  check_shape("lstm_scan", "gates", gates, {S, T, B, G});
  check_shape("lstm_scan", "bias", bias, {S, G});
  check_shape("lstm_scan", "h0", h0, {S, B, H});
  check_shape("lstm_scan", "c0", c0, {S, B, H});
  check_shape("lstm_scan", "w_hh", w_hh, {S, G, H});
  check_shape("lstm_scan", "out", out, {S, T, B, H});
  if (keep) {
    check_shape("lstm_scan", "cs", cs, {S, T, B, H});
  } else {
    check_shape("lstm_scan", "cs", cs, {S, B, H});
  }
  check_shape("lstm_scan", "tanh_cs", tanh_cs, cs.sizes());
  float *gp = gates.data_ptr<float>(), *op = out.data_ptr<float>();
  float *cp = cs.data_ptr<float>(), *tp = tanh_cs.data_ptr<float>();
  const float *bp = bias.data_ptr<float>(), *c0p = c0.data_ptr<float>();
  const int64_t cT = keep ? T : 1;  // steps held in cs / tanh_cs
  at::Tensor wt = w_hh.transpose(1, 2), m = at::empty({S, B, G}, gates.options());
  const float* mp = m.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t b = sizes[t];
    at::Tensor m_t = m.narrow(1, 0, b);
    at::bmm_out(m_t, (t ? out.select(1, t - 1) : h0).narrow(1, 0, b), wt);
    const int64_t k = keep ? t : 0;
    each_row(S, b, [&](int64_t s, int64_t r) {
      const int64_t row = s * cT * B * H + (k * B + r) * H;
      const float* c_prev = !keep ? cp + row : t ? cp + row - B * H : c0p + (s * B + r) * H;
      lstm_row(gp + ((s * T + t) * B + r) * G, mp + (s * B + r) * G, bp + s * G, c_prev, cp + row, tp + row,
               op + ((s * T + t) * B + r) * H, H);
    });
  }
}

// One row of the lstm backward pass at step t: the activated gates a[4H] (i, f, g, o), c_prev,
// tc = tanh(c_t); dh[H] = dL/dh_t from later steps (gets + dout), dc[H] likewise (gets dc_{t-1}
// without the W_hh path: dc * f) -> da[4H] = dL/d(pre-activations).
static inline void lstm_grad_row(const float* __restrict__ a, const float* __restrict__ c_prev,
                                 const float* __restrict__ tc, const float* __restrict__ dout,
                                 float* __restrict__ dh, float* __restrict__ dc,
                                 float* __restrict__ da, int64_t H) {
  const float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
  float *di = da, *df = da + H, *dg = da + 2 * H, *dop = da + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const float i = ai[j], f = af[j], g = ag[j], o = ao[j], t = tc[j];
    const float h = dh[j] + dout[j];
    const float c = dc[j] + h * o * (1.f - t * t);
    di[j] = c * g * i * (1.f - i);
    df[j] = c * c_prev[j] * f * (1.f - f);
    dg[j] = c * i * (1.f - g * g);
    dop[j] = h * t * o * (1.f - o);
    dc[j] = c * f;
  }
}

// gates, cs, tanh_cs [S, T, B, 4H | H | H], c0 [S, B, H]: lstm_scan's (keep); w_hh [S, 4H, H];
// dout [S, T, B, H]; dh, dc [S, B, H]: dL/dh_n, dL/dc_n on entry, dL/dh0, dL/dc0 on exit;
// dgates [S, T, B, 4H] receives dL/d(gate pre-activations) of the running rows.
void lstm_scan_backward(at::Tensor gates, at::Tensor cs, at::Tensor tanh_cs, at::Tensor c0,
                        at::Tensor w_hh, at::Tensor dout, at::Tensor dh, at::Tensor dc,
                        at::Tensor dgates, c10::IntArrayRef sizes) {
  const int64_t S = gates.size(0), T = gates.size(1), B = gates.size(2), G = gates.size(3), H = G / 4;
  check_args("lstm_scan_backward", {&gates, &cs, &tanh_cs, &c0, &w_hh, &dout, &dh, &dc, &dgates}, sizes, S, T, B);
  TORCH_CHECK(G == 4 * H, "lstm_scan_backward: gates must have 4H columns, got ", G);
  for (auto [name, t] : {std::pair<const char*, const at::Tensor*>{"cs", &cs}, {"tanh_cs", &tanh_cs}, {"dout", &dout}}) {
    check_shape("lstm_scan_backward", name, *t, {S, T, B, H});
  }
  check_shape("lstm_scan_backward", "c0", c0, {S, B, H});
  check_shape("lstm_scan_backward", "dh", dh, {S, B, H});
  check_shape("lstm_scan_backward", "dc", dc, {S, B, H});
  check_shape("lstm_scan_backward", "w_hh", w_hh, {S, G, H});
  check_shape("lstm_scan_backward", "dgates", dgates, {S, T, B, G});
  const float *ap = gates.data_ptr<float>(), *cp = cs.data_ptr<float>(), *tp = tanh_cs.data_ptr<float>();
  const float *c0p = c0.data_ptr<float>(), *gp = dout.data_ptr<float>();
  float *dhp = dh.data_ptr<float>(), *dcp = dc.data_ptr<float>(), *dap = dgates.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t b = sizes[t];
    each_row(S, b, [&](int64_t s, int64_t r) {
      const int64_t k = ((s * T + t) * B + r) * H, state = (s * B + r) * H;
      const float* c_prev = t ? cp + k - B * H : c0p + state;
      lstm_grad_row(ap + 4 * k, c_prev, tp + k, gp + k, dhp + state, dcp + state, dap + 4 * k, H);
    });
    at::Tensor d = dh.narrow(1, 0, b);
    at::bmm_out(d, dgates.select(1, t).narrow(1, 0, b), w_hh);
  }
}

// ---------------------------------------------------------------------------------- gru
// One gru row: x = gx row [3H] (W_ih x + b_ih), m = h W_hh^T row [3H], b = b_hh, h_prev [H]
// -> ghn row [H] = the n block of m + b_hh (all the backward pass reads of it), gates row [3H]
// (r, z, n), h [H].
static inline void gru_row(const float* x, const float* m, float* ghn_out, const float* b, const float* h_prev,
                           float* gates, float* h, int64_t H) {
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; j + 8 <= H; j += 8) {
    __m256 ghr = _mm256_add_ps(_mm256_loadu_ps(m + j), _mm256_loadu_ps(b + j));
    __m256 ghz = _mm256_add_ps(_mm256_loadu_ps(m + H + j), _mm256_loadu_ps(b + H + j));
    __m256 ghn = _mm256_add_ps(_mm256_loadu_ps(m + 2 * H + j), _mm256_loadu_ps(b + 2 * H + j));
    __m256 r = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(x + j), ghr));
    __m256 z = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(x + H + j), ghz));
    __m256 n = tanh8(_mm256_fmadd_ps(r, ghn, _mm256_loadu_ps(x + 2 * H + j)));
    __m256 hp = _mm256_loadu_ps(h_prev + j);
    _mm256_storeu_ps(ghn_out + j, ghn);
    _mm256_storeu_ps(gates + j, r);
    _mm256_storeu_ps(gates + H + j, z);
    _mm256_storeu_ps(gates + 2 * H + j, n);
    _mm256_storeu_ps(h + j, _mm256_fmadd_ps(z, _mm256_sub_ps(hp, n), n));
  }
#endif
  for (; j < H; ++j) {
    float ghr = m[j] + b[j], ghz = m[H + j] + b[H + j], ghn = m[2 * H + j] + b[2 * H + j];
    float r = sigmoid1(x[j] + ghr), z = sigmoid1(x[H + j] + ghz);
    float n = std::tanh(x[2 * H + j] + r * ghn);
    ghn_out[j] = ghn;
    gates[j] = r, gates[H + j] = z, gates[2 * H + j] = n;
    h[j] = n + z * (h_prev[j] - n);
  }
}

// gx [S, T, B, 3H] = W_ih x + b_ih; b_hh [S, 3H]; h0 [S, B, H]; w_hh [S, 3H, H]; out [S, T, B, H].
// keep: gates [S, T, B, 3H] and ghn [S, T, B, H] receive r, z, n and the n block of W_hh h + b_hh
// (what the backward pass reads); otherwise they are one step's scratch, [S, B, 3H] and [S, B, H].
void gru_scan(at::Tensor gx, at::Tensor b_hh, at::Tensor h0, at::Tensor w_hh, at::Tensor gates,
              at::Tensor gh, at::Tensor out, c10::IntArrayRef sizes, bool keep) {
  const int64_t S = gx.size(0), T = gx.size(1), B = gx.size(2), H = out.size(3), G = 3 * H;
  check_args("gru_scan", {&gx, &b_hh, &h0, &w_hh, &gates, &gh, &out}, sizes, S, T, B);
  check_shape("gru_scan", "gx", gx, {S, T, B, G});
  check_shape("gru_scan", "b_hh", b_hh, {S, G});
  check_shape("gru_scan", "h0", h0, {S, B, H});
  check_shape("gru_scan", "w_hh", w_hh, {S, G, H});
  check_shape("gru_scan", "out", out, {S, T, B, H});
  if (keep) {
    check_shape("gru_scan", "gates", gates, {S, T, B, G});
    check_shape("gru_scan", "ghn", gh, {S, T, B, H});
  } else {
    check_shape("gru_scan", "gates", gates, {S, B, G});
    check_shape("gru_scan", "ghn", gh, {S, B, H});
  }
  const float *xp = gx.data_ptr<float>(), *bp = b_hh.data_ptr<float>(), *h0p = h0.data_ptr<float>();
  float *gp = gates.data_ptr<float>(), *ghp = gh.data_ptr<float>(), *op = out.data_ptr<float>();
  const int64_t gT = keep ? T : 1;
  // m: W_hh h_{t-1} of the step, one step's scratch
  at::Tensor wt = w_hh.transpose(1, 2), m = at::empty({S, B, G}, gx.options());
  const float* mp = m.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t b = sizes[t];
    const int64_t k = keep ? t : 0;
    at::Tensor m_t = m.narrow(1, 0, b);
    at::bmm_out(m_t, (t ? out.select(1, t - 1) : h0).narrow(1, 0, b), wt);
    each_row(S, b, [&](int64_t s, int64_t r) {
      const int64_t kept = (s * gT + k) * B + r, h_row = ((s * T + t) * B + r) * H;   // row of gates, ghn
      const float* h_prev = t ? op + h_row - B * H : h0p + (s * B + r) * H;
      gru_row(xp + ((s * T + t) * B + r) * G, mp + (s * B + r) * G, ghp + kept * H, bp + s * G, h_prev,
              gp + kept * G, op + h_row, H);
    });
  }
}

// One row of the gru backward pass at step t: gates a[3H] (r, z, n), ghn[H] = the n block of
// W_hh h_{t-1} + b_hh, h_prev[H]; dh[H] = dL/dh_t from later steps (gets + dout, then its direct
// path to h_{t-1}: dh * z) -> dgx[3H] = dL/d(W_ih x + b_ih); dL/d(W_hh h_{t-1} + b_hh) is dgx's r
// and z blocks and dn * r: into the step's scratch dgh[3H] (for dh_{t-1}), its n block also into
// dghn[H] (kept for dW_hh: the r and z blocks are dgx's, not stored twice).
static inline void gru_grad_row(const float* __restrict__ a, const float* __restrict__ ghn,
                                const float* __restrict__ h_prev, const float* __restrict__ dout,
                                float* __restrict__ dh, float* __restrict__ dgx,
                                float* __restrict__ dgh, float* __restrict__ dghn, int64_t H) {
  const float *ar = a, *az = a + H, *an = a + 2 * H;
  for (int64_t j = 0; j < H; ++j) {
    const float r = ar[j], z = az[j], n = an[j];
    const float d = dh[j] + dout[j];
    const float dn = d * (1.f - z) * (1.f - n * n);
    const float dr = dn * ghn[j] * r * (1.f - r);
    const float dz = d * (h_prev[j] - n) * z * (1.f - z);
    const float dnr = dn * r;
    dgx[j] = dr, dgx[H + j] = dz, dgx[2 * H + j] = dn;
    dgh[j] = dr, dgh[H + j] = dz, dgh[2 * H + j] = dnr;
    dghn[j] = dnr;
    dh[j] = d * z;
  }
}

// gates [S, T, B, 3H], ghn, out [S, T, B, H], h0 [S, B, H]: gru_scan's (keep); w_hh [S, 3H, H];
// dout [S, T, B, H]; dh [S, B, H]: dL/dh_n on entry, dL/dh0 on exit; dgx [S, T, B, 3H] receives
// dL/d(W_ih x + b_ih) and dghn [S, T, B, H] the n block of dL/d(W_hh h + b_hh), of the running
// rows (its r and z blocks are dgx's).
void gru_scan_backward(at::Tensor gates, at::Tensor gh, at::Tensor out, at::Tensor h0, at::Tensor w_hh,
                       at::Tensor dout, at::Tensor dh, at::Tensor dgx, at::Tensor dgh, c10::IntArrayRef sizes) {
  const int64_t S = gates.size(0), T = gates.size(1), B = gates.size(2), G = gates.size(3), H = G / 3;
  check_args("gru_scan_backward", {&gates, &gh, &out, &h0, &w_hh, &dout, &dh, &dgx, &dgh}, sizes, S, T, B);
  TORCH_CHECK(G == 3 * H, "gru_scan_backward: gates must have 3H columns, got ", G);
  check_shape("gru_scan_backward", "dgx", dgx, {S, T, B, G});
  for (auto [name, t] : {std::pair<const char*, const at::Tensor*>{"ghn", &gh}, {"dghn", &dgh}}) {
    check_shape("gru_scan_backward", name, *t, {S, T, B, H});
  }
  check_shape("gru_scan_backward", "out", out, {S, T, B, H});
  check_shape("gru_scan_backward", "dout", dout, {S, T, B, H});
  check_shape("gru_scan_backward", "h0", h0, {S, B, H});
  check_shape("gru_scan_backward", "dh", dh, {S, B, H});
  check_shape("gru_scan_backward", "w_hh", w_hh, {S, G, H});
  const float *ap = gates.data_ptr<float>(), *ghp = gh.data_ptr<float>(), *op = out.data_ptr<float>();
  const float *h0p = h0.data_ptr<float>(), *gp = dout.data_ptr<float>();
  float *dhp = dh.data_ptr<float>(), *dxp = dgx.data_ptr<float>(), *dnp = dgh.data_ptr<float>();
  at::Tensor step = at::empty({S, B, G}, gates.options());    // the step's dL/d(W_hh h + b_hh)
  float* sp = step.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t b = sizes[t];
    each_row(S, b, [&](int64_t s, int64_t r) {
      const int64_t k = ((s * T + t) * B + r) * H, state = (s * B + r) * H;
      const float* h_prev = t ? op + k - B * H : h0p + state;
      gru_grad_row(ap + 3 * k, ghp + k, h_prev, gp + k, dhp + state, dxp + 3 * k, sp + 3 * state, dnp + k, H);
    });
    at::Tensor d = dh.narrow(1, 0, b);
    at::baddbmm_out(d, d, step.narrow(1, 0, b), w_hh);
  }
}

TORCH_LIBRARY(rnnbench, m) {
  m.def("rnn_scan(Tensor(a!) out, Tensor h0, Tensor w_hh, int[] sizes, int act) -> ()");
  m.def("rnn_scan_backward(Tensor out, Tensor w_hh, Tensor dout, Tensor(a!) dh, Tensor(b!) dpre, "
        "int[] sizes, int act) -> ()");
  m.def("lstm_scan(Tensor(a!) gates, Tensor bias, Tensor h0, Tensor c0, Tensor w_hh, "
        "Tensor(b!) out, Tensor(c!) cs, Tensor(d!) tanh_cs, int[] sizes, bool keep) -> ()");
  m.def("lstm_scan_backward(Tensor gates, Tensor cs, Tensor tanh_cs, Tensor c0, Tensor w_hh, Tensor dout, "
        "Tensor(a!) dh, Tensor(b!) dc, Tensor(c!) dgates, int[] sizes) -> ()");
  m.def("gru_scan(Tensor gx, Tensor b_hh, Tensor h0, Tensor w_hh, Tensor(a!) gates, Tensor(b!) ghn, "
        "Tensor(c!) out, int[] sizes, bool keep) -> ()");
  m.def("gru_scan_backward(Tensor gates, Tensor ghn, Tensor out, Tensor h0, Tensor w_hh, Tensor dout, "
        "Tensor(a!) dh, Tensor(b!) dgx, Tensor(c!) dghn, int[] sizes) -> ()");
}

TORCH_LIBRARY_IMPL(rnnbench, CPU, m) {
  m.impl("rnn_scan", &rnn_scan);
  m.impl("rnn_scan_backward", &rnn_scan_backward);
  m.impl("lstm_scan", &lstm_scan);
  m.impl("lstm_scan_backward", &lstm_scan_backward);
  m.impl("gru_scan", &gru_scan);
  m.impl("gru_scan_backward", &gru_scan_backward);
}

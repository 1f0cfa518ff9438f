// The cell backend's compiled forward scans, lstm and gru (native.py builds them on first use).
//
// lstm, per step t, over the rows r < sizes[t] still running (the batch is sorted longest first):
//   a      = gx_t + h_{t-1} W_hh^T          (ATen's addmm, in place into gates[t])
//   i, f, o = sigmoid(a_i + b_i), sigmoid(a_f + b_f), sigmoid(a_o + b_o);  g = tanh(a_g + b_g)
//   c_t    = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
// gru (torch.nn's variant), per step t:
//   gh     = h_{t-1} W_hh^T + b_hh           (ATen's mm, then + b_hh in the pass below)
//   r, z   = sigmoid(gx_r + gh_r), sigmoid(gx_z + gh_z);   n = tanh(gx_n + r * gh_n)
//   h_t    = (1 - z) * n + z * h_{t-1}
// The elementwise part of a step is one vectorised pass per row (AVX2 + FMA where the build
// has them), spread over ATen's threads; the per-step ATen calls it replaces each sat below
// ATen's parallel grain and paid a dispatch each. Rows are independent, so the result does not
// depend on the number of threads. exp is Cephes' single-precision polynomial (about 1 ulp),
// 1/x a hardware estimate refined by one Newton step; NaN propagates (a diverged run still
// shows NaN), and no input gives inf.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <initializer_list>

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

// One row: gate pre-activations a[4H] (activated in place), bias b[4H], c_prev[H] -> c, tc, h.
static inline void lstm_row(float* a, const float* b, const float* c_prev, float* c, float* tc,
                            float* h, int64_t H) {
  float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
  const float *bi = b, *bf = b + H, *bg = b + 2 * H, *bo = b + 3 * H;
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; j + 8 <= H; j += 8) {
    __m256 i = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(ai + j), _mm256_loadu_ps(bi + j)));
    __m256 f = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(af + j), _mm256_loadu_ps(bf + j)));
    __m256 g = tanh8(_mm256_add_ps(_mm256_loadu_ps(ag + j), _mm256_loadu_ps(bg + j)));
    __m256 o = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(ao + j), _mm256_loadu_ps(bo + j)));
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
    float i = sigmoid1(ai[j] + bi[j]), f = sigmoid1(af[j] + bf[j]);
    float g = std::tanh(ag[j] + bg[j]), o = sigmoid1(ao[j] + bo[j]);
    float cn = f * c_prev[j] + i * g, tcn = std::tanh(cn);
    ai[j] = i, af[j] = f, ag[j] = g, ao[j] = o;
    c[j] = cn, tc[j] = tcn, h[j] = o * tcn;
  }
}

// The arguments both scans share the rules of: float32, contiguous, on the CPU; sizes[t]
// (the rows running at step t) non-increasing within [0, B].
static void check_args(const char* op, std::initializer_list<const at::Tensor*> tensors,
                       c10::IntArrayRef sizes, int64_t T, int64_t B) {
  for (const at::Tensor* t : tensors) {
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous() && t->device().is_cpu(), op,
                ": float32 contiguous CPU tensors expected");
  }
  TORCH_CHECK(static_cast<int64_t>(sizes.size()) == T, op, ": ", T, " sizes expected");
  for (int64_t t = 0; t < T; ++t) {
    TORCH_CHECK(sizes[t] >= 0 && sizes[t] <= B && (t == 0 || sizes[t] <= sizes[t - 1]), op,
                ": sizes must be non-increasing within [0, ", B, "]");
  }
}

// gates [T, B, 4H]: W_ih x_t on entry (no bias), the activated i, f, g, o of the running rows
// on exit; bias [4H] = b_ih + b_hh; h0, c0 [B, H]; wt = W_hh^T [H, 4H]; out [T, B, H].
// keep: cs and tanh_cs are [T, B, H] and receive c_t and tanh(c_t) (for the backward pass).
// Otherwise they are [B, H] scratch: cs holds c0 on entry and each row's last c on exit.
void lstm_scan(at::Tensor gates, at::Tensor bias, at::Tensor h0, at::Tensor c0, at::Tensor wt,
               at::Tensor out, at::Tensor cs, at::Tensor tanh_cs, c10::IntArrayRef sizes, bool keep) {
  const int64_t T = gates.size(0), B = gates.size(1), H = out.size(2), G = 4 * H;
  check_args("lstm_scan", {&gates, &bias, &c0, &out, &cs, &tanh_cs}, sizes, T, B);
  TORCH_CHECK(gates.size(2) == G && bias.numel() == G && c0.size(0) == B && c0.size(1) == H &&
                  cs.numel() == (keep ? T : 1) * B * H && tanh_cs.numel() == cs.numel(),
              "lstm_scan: inconsistent shapes");
  float *gp = gates.data_ptr<float>(), *op = out.data_ptr<float>();
  float *cp = cs.data_ptr<float>(), *tp = tanh_cs.data_ptr<float>();
  const float *bp = bias.data_ptr<float>(), *c0p = c0.data_ptr<float>();
  at::Tensor h = h0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t b = sizes[t];
    at::Tensor a = gates[t].narrow(0, 0, b);
    at::addmm_out(a, a, h.narrow(0, 0, b), wt);
    float* a_t = gp + t * B * G;
    float* h_t = op + t * B * H;
    float* c_t = keep ? cp + t * B * H : cp;
    float* tc_t = keep ? tp + t * B * H : tp;
    const float* c_prev = !keep ? cp : t ? cp + (t - 1) * B * H : c0p;
    at::parallel_for(0, b, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        lstm_row(a_t + r * G, bp, c_prev + r * H, c_t + r * H, tc_t + r * H, h_t + r * H, H);
      }
    });
    h = out[t];
  }
}

// One gru row: x = gx row [3H] (W_ih x + b_ih), gh = h W_hh^T row [3H] (gets + b_hh),
// b = b_hh, h_prev [H] -> gates row [3H] (r, z, n), h [H].
static inline void gru_row(const float* x, float* gh, const float* b, const float* h_prev,
                           float* gates, float* h, int64_t H) {
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; j + 8 <= H; j += 8) {
    __m256 ghr = _mm256_add_ps(_mm256_loadu_ps(gh + j), _mm256_loadu_ps(b + j));
    __m256 ghz = _mm256_add_ps(_mm256_loadu_ps(gh + H + j), _mm256_loadu_ps(b + H + j));
    __m256 ghn = _mm256_add_ps(_mm256_loadu_ps(gh + 2 * H + j), _mm256_loadu_ps(b + 2 * H + j));
    __m256 r = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(x + j), ghr));
    __m256 z = sigmoid8(_mm256_add_ps(_mm256_loadu_ps(x + H + j), ghz));
    __m256 n = tanh8(_mm256_fmadd_ps(r, ghn, _mm256_loadu_ps(x + 2 * H + j)));
    __m256 hp = _mm256_loadu_ps(h_prev + j);
    _mm256_storeu_ps(gh + j, ghr);
    _mm256_storeu_ps(gh + H + j, ghz);
    _mm256_storeu_ps(gh + 2 * H + j, ghn);
    _mm256_storeu_ps(gates + j, r);
    _mm256_storeu_ps(gates + H + j, z);
    _mm256_storeu_ps(gates + 2 * H + j, n);
    _mm256_storeu_ps(h + j, _mm256_fmadd_ps(z, _mm256_sub_ps(hp, n), n));
  }
#endif
  for (; j < H; ++j) {
    float ghr = gh[j] + b[j], ghz = gh[H + j] + b[H + j], ghn = gh[2 * H + j] + b[2 * H + j];
    float r = sigmoid1(x[j] + ghr), z = sigmoid1(x[H + j] + ghz);
    float n = std::tanh(x[2 * H + j] + r * ghn);
    gh[j] = ghr, gh[H + j] = ghz, gh[2 * H + j] = ghn;
    gates[j] = r, gates[H + j] = z, gates[2 * H + j] = n;
    h[j] = n + z * (h_prev[j] - n);
  }
}

// gx [T, B, 3H] = W_ih x + b_ih; b_hh [3H]; h0 [B, H]; wt = W_hh^T [H, 3H]; out [T, B, H].
// keep: gates and gh are [T, B, 3H] and receive r, z, n and W_hh h + b_hh (for the backward
// pass); otherwise they are [B, 3H] scratch.
void gru_scan(at::Tensor gx, at::Tensor b_hh, at::Tensor h0, at::Tensor wt, at::Tensor gates,
              at::Tensor gh, at::Tensor out, c10::IntArrayRef sizes, bool keep) {
  const int64_t T = gx.size(0), B = gx.size(1), H = out.size(2), G = 3 * H;
  check_args("gru_scan", {&gx, &b_hh, &h0, &gates, &gh, &out}, sizes, T, B);
  TORCH_CHECK(gx.size(2) == G && b_hh.numel() == G && h0.size(0) == B && h0.size(1) == H &&
                  gates.numel() == (keep ? T : 1) * B * G && gh.numel() == gates.numel(),
              "gru_scan: inconsistent shapes");
  const float *xp = gx.data_ptr<float>(), *bp = b_hh.data_ptr<float>(), *h0p = h0.data_ptr<float>();
  float *gp = gates.data_ptr<float>(), *ghp = gh.data_ptr<float>(), *op = out.data_ptr<float>();
  at::Tensor gh_all = gh.view({keep ? T : 1, B, G});
  for (int64_t t = 0; t < T; ++t) {
    const int64_t b = sizes[t];
    const int64_t k = keep ? t : 0;
    at::Tensor gh_t = gh_all[k].narrow(0, 0, b);
    at::mm_out(gh_t, (t ? out[t - 1] : h0).narrow(0, 0, b), wt);
    const float* x_t = xp + t * B * G;
    float* gh_row0 = ghp + k * B * G;
    float* g_t = gp + k * B * G;
    float* h_t = op + t * B * H;
    const float* h_prev = t ? op + (t - 1) * B * H : h0p;
    at::parallel_for(0, b, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        gru_row(x_t + r * G, gh_row0 + r * G, bp, h_prev + r * H, g_t + r * G, h_t + r * H, H);
      }
    });
  }
}

TORCH_LIBRARY(rnnbench, m) {
  m.def("lstm_scan(Tensor(a!) gates, Tensor bias, Tensor h0, Tensor c0, Tensor wt, "
        "Tensor(b!) out, Tensor(c!) cs, Tensor(d!) tanh_cs, int[] sizes, bool keep) -> ()");
  m.def("gru_scan(Tensor gx, Tensor b_hh, Tensor h0, Tensor wt, Tensor(a!) gates, Tensor(b!) gh, "
        "Tensor(c!) out, int[] sizes, bool keep) -> ()");
}

TORCH_LIBRARY_IMPL(rnnbench, CPU, m) {
  m.impl("lstm_scan", &lstm_scan);
  m.impl("gru_scan", &gru_scan);
}

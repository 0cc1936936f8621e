// The caching allocator of native/core/caching_allocator.h, the background thread that does the
// raw frees, the host-page stand-in for a device that the tests use, and the test gate.
#include "core/caching_allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cuda_ops.h"

namespace sl::mem {

struct Pool {
  RawMemory* raw = nullptr;
  int device = 0;
  std::mutex mu;
  std::map<size_t, std::vector<Block*>> cached;  // size class -> blocks without owners
  uint64_t releases = 0;
  Stats st;

  // Takes the longest-cached block out of the cache (the caller holds mu), or null.
  Block* evict_oldest() {
    auto best = cached.end();
    size_t at = 0;
    for (auto it = cached.begin(); it != cached.end(); ++it)
      for (size_t k = 0; k < it->second.size(); ++k)
        if (best == cached.end() || it->second[k]->released < best->second[at]->released) {
          best = it;
          at = k;
        }
    if (best == cached.end()) return nullptr;
    Block* b = best->second[at];
    best->second.erase(best->second.begin() + static_cast<std::ptrdiff_t>(at));
    if (best->second.empty()) cached.erase(best);
    st.bytesCached -= static_cast<int64_t>(b->bytes);
    st.blocksCached -= 1;
    return b;
  }
};

namespace {

// Every pool ever made; pools are never destroyed (blocks point at them until process exit).
struct Pools {
  std::mutex mu;
  std::vector<std::unique_ptr<Pool>> all;
};
Pools& pools() {
  static Pools* p = new Pools;  // leaked on purpose: finalizers may release blocks at exit
  return *p;
}

Pool& pool_for(RawMemory& raw, int device) {
  Pools& ps = pools();
  std::lock_guard<std::mutex> l(ps.mu);
  for (auto& p : ps.all)
    if (p->raw == &raw && p->device == device) return *p;
  ps.all.push_back(std::make_unique<Pool>());
  Pool& p = *ps.all.back();
  p.raw = &raw;
  p.device = device;
  return p;
}

// The background thread of raw frees.
class Reaper {
 public:
  void push(std::vector<Block*> blocks) {
    if (blocks.empty()) return;
    std::lock_guard<std::mutex> l(mu_);
    for (Block* b : blocks) queue_.push_back(b);
    if (!started_) {
      started_ = true;
      std::thread([this] { run(); }).detach();
    }
    cv_.notify_all();
  }
  // Waits until every block pushed so far has been freed.
  void flush() {
    std::unique_lock<std::mutex> l(mu_);
    idle_.wait(l, [&] { return queue_.empty() && busy_ == 0; });
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return !queue_.empty(); });
      Block* b = queue_.front();
      queue_.pop_front();
      ++busy_;
      l.unlock();
      free_block(b);
      l.lock();
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_.notify_all();
    }
  }
  static void free_block(Block* b) {
    Pool& p = *b->pool;
    p.raw->wait_fence(*b);
    p.raw->destroy_fence(*b);
    p.raw->track(*b, false);
    p.raw->free(b->ptr, b->bytes, b->device);
    {
      std::lock_guard<std::mutex> l(p.mu);
      p.st.rawBlocks -= 1;
      p.st.rawBytes -= static_cast<int64_t>(b->bytes);
      p.st.rawFrees += 1;
    }
    delete b;
  }
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<Block*> queue_;
  int busy_ = 0;
  bool started_ = false;
};
Reaper& reaper() {
  static Reaper* r = new Reaper;  // leaked on purpose, like the pools
  return *r;
}

}  // namespace

size_t size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t p = 1;
  while (p <= bytes / 2) p <<= 1;  // p: the largest power of two <= bytes
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

void set_cache_limit(size_t bytes) {
  cuda_memory().cacheLimit.store(bytes);
  test_memory().cacheLimit.store(bytes);
}
size_t cache_limit() { return cuda_memory().cacheLimit.load(); }

DeviceRef allocate(RawMemory& raw, int device, size_t bytes) {
  const size_t cls = size_class(bytes);
  Pool& p = pool_for(raw, device);
  Block* pick = nullptr;
  bool wait = false;
  {
    std::lock_guard<std::mutex> l(p.mu);
    auto it = p.cached.find(cls);
    if (it != p.cached.end() && !it->second.empty()) {
      std::vector<Block*>& v = it->second;
      size_t at = v.size();
      for (size_t k = v.size(); k-- > 0;)
        if (raw.fence_done(*v[k])) {
          at = k;
          break;
        }
      if (at == v.size()) {  // none ready: the oldest release is the likeliest to finish first
        at = 0;
        wait = true;
      }
      pick = v[at];
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
      p.st.bytesCached -= static_cast<int64_t>(cls);
      p.st.blocksCached -= 1;
      p.st.bytesInUse += static_cast<int64_t>(cls);
      p.st.blocksInUse += 1;
      p.st.cacheHits += 1;
      if (wait) p.st.fenceWaits += 1;
    }
  }
  if (pick) {
    if (wait) raw.wait_fence(*pick);
    pick->requested = bytes;
    return DeviceRef(pick);
  }
  void* ptr = raw.alloc(cls, device);
  if (!ptr) {  // out of memory: give the cache back and try once more
    empty_cache(raw, device);
    ptr = raw.alloc(cls, device);
    if (!ptr)
      throw CudaError("ERR_CUDA_OUT_OF_MEMORY", std::string(raw.name()) + " device " +
                                                    std::to_string(device) + ": out of memory (" +
                                                    std::to_string(cls) + " bytes requested)");
  }
  Block* b = nullptr;
  try {
    b = new Block;
  } catch (...) {
    raw.free(ptr, cls, device);
    throw;
  }
  b->ptr = ptr;
  b->bytes = cls;
  b->requested = bytes;
  b->device = device;
  b->pool = &p;
  raw.track(*b, true);
  {
    std::lock_guard<std::mutex> l(p.mu);
    p.st.rawBlocks += 1;
    p.st.rawBytes += static_cast<int64_t>(cls);
    p.st.rawAllocs += 1;
    p.st.bytesInUse += static_cast<int64_t>(cls);
    p.st.blocksInUse += 1;
  }
  return DeviceRef(b);
}

void unref(Block* b) noexcept {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Pool& p = *b->pool;
  p.raw->record_fence(*b);
  p.raw->on_cached(*b);
  std::vector<Block*> out;  // to free: evicted blocks, or b itself
  {
    std::lock_guard<std::mutex> l(p.mu);
    p.st.bytesInUse -= static_cast<int64_t>(b->bytes);
    p.st.blocksInUse -= 1;
    const size_t limit = p.raw->cacheLimit.load();
    bool keep = b->bytes <= limit;
    try {
      out.reserve(static_cast<size_t>(p.st.blocksCached) + 1);
    } catch (...) {  // no memory for the bookkeeping: neither evict nor cache
      keep = false;
    }
    while (keep && static_cast<size_t>(p.st.bytesCached) + b->bytes > limit) {
      Block* old = p.evict_oldest();
      if (!old) break;
      out.push_back(old);  // within the reserved capacity
    }
    if (keep) {
      try {
        b->released = ++p.releases;
        p.cached[b->bytes].push_back(b);
        p.st.bytesCached += static_cast<int64_t>(b->bytes);
        p.st.blocksCached += 1;
      } catch (...) {
        keep = false;
      }
    }
    if (!keep && out.capacity() > out.size()) out.push_back(b);
  }
  try {
    reaper().push(std::move(out));
  } catch (...) {
  }
}

Stats stats(RawMemory& raw, int device) {
  Pool& p = pool_for(raw, device);
  std::lock_guard<std::mutex> l(p.mu);
  return p.st;
}

void empty_cache(RawMemory& raw, int device) {
  std::vector<Pool*> targets;
  {
    Pools& ps = pools();
    std::lock_guard<std::mutex> l(ps.mu);
    for (auto& p : ps.all)
      if (p->raw == &raw && (device < 0 || p->device == device)) targets.push_back(p.get());
  }
  for (Pool* p : targets) {
    std::vector<Block*> out;
    {
      std::lock_guard<std::mutex> l(p->mu);
      for (auto& [cls, v] : p->cached) out.insert(out.end(), v.begin(), v.end());
      p->cached.clear();
      p->st.bytesCached = 0;
      p->st.blocksCached = 0;
    }
    reaper().push(std::move(out));
  }
  reaper().flush();
}

// ---- the test memory -----------------------------------------------------------------------
namespace {

// Host pages that stand in for a device. Fresh and cached blocks are filled with a NaN pattern
// (like uninitialised device memory, and so that a read of released memory gives NaN); freed
// blocks are poisoned, made inaccessible (PROT_NONE) and kept in a quarantine for a while, so that
// a use after free faults instead of touching memory that has a new owner.
class TestMemory final : public RawMemory {
 public:
  void* alloc(size_t bytes, int) override {
    const size_t len = round(bytes);
    std::lock_guard<std::mutex> l(mu_);
    if (live_ + len > limit_) return nullptr;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    std::memset(p, 0xFF, len);
    live_ += len;
    return p;
  }
  void free(void* p, size_t bytes, int) noexcept override {
    const size_t len = round(bytes);
    std::memset(p, 0xFF, len);
    mprotect(p, len, PROT_NONE);
    std::lock_guard<std::mutex> l(mu_);
    live_ -= len;
    try {
      quarantine_.push_back({p, len});
      quarantined_ += len;
    } catch (...) {
      munmap(p, len);
    }
    while (quarantined_ > kQuarantine && !quarantine_.empty()) {
      munmap(quarantine_.front().first, quarantine_.front().second);
      quarantined_ -= quarantine_.front().second;
      quarantine_.pop_front();
    }
  }
  void record_fence(Block&) noexcept override {}
  bool fence_done(Block&) noexcept override { return true; }
  void wait_fence(Block&) noexcept override {}
  void destroy_fence(Block&) noexcept override {}
  void on_cached(Block& b) noexcept override { std::memset(b.ptr, 0xFF, b.bytes); }
  bool host_visible() const override { return true; }
  const char* name() const override { return "test memory"; }

  void set_limit(size_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    limit_ = bytes;
  }

 private:
  static size_t round(size_t bytes) {
    static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
  }
  static constexpr size_t kQuarantine = size_t(256) << 20;
  std::mutex mu_;
  size_t live_ = 0, limit_ = SIZE_MAX, quarantined_ = 0;
  std::deque<std::pair<void*, size_t>> quarantine_;
};

TestMemory& the_test_memory() {
  static TestMemory* m = new TestMemory;  // leaked on purpose, like the pools
  return *m;
}

// Host memory for tensor data (see the header).
class HostMemory final : public RawMemory {
 public:
  // The default limit: 1 GiB, or an eighth of the physical memory where that is less. It bounds
  // both what is kept cached and how much pooled memory is out at a time (memory_napi.cc), so it
  // has to hold a training call's outputs, gradients and checkpoints at once: at 128 MiB the
  // conv workload's (16, 50, 16, 32, 32) training step (2 x 56 MB plus checkpoints) no longer
  // fitted and fell back to fresh memory, 1.8-2x slower than warm memory.
  HostMemory() {
    size_t limit = size_t(1) << 30;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
      limit = std::min(limit, static_cast<size_t>(pages) / 8 * static_cast<size_t>(page));
    cacheLimit.store(limit);
  }
  void* alloc(size_t bytes, int) override {
    if (bytes >= kHuge) {
      const size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
      void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
      if (huge_advice()) madvise(p, len, MADV_HUGEPAGE);
#endif
      return p;
    }
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void free(void* p, size_t bytes, int) noexcept override {
    if (bytes >= kHuge)
      munmap(p, (bytes + kHuge - 1) / kHuge * kHuge);
    else
      std::free(p);
  }
  void record_fence(Block&) noexcept override {}
  bool fence_done(Block&) noexcept override { return true; }
  void wait_fence(Block&) noexcept override {}
  void destroy_fence(Block&) noexcept override {}
  bool host_visible() const override { return true; }
  const char* name() const override { return "host"; }
  void track(Block& b, bool add) noexcept override {
    std::lock_guard<std::mutex> l(mu_);
    try {
      if (add)
        blocks_[b.ptr] = &b;
      else
        blocks_.erase(b.ptr);
    } catch (...) {
    }
  }
  Block* find(const void* p) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = blocks_.find(p);
    return it == blocks_.end() ? nullptr : it->second;
  }

  // Whether to advise huge pages: where transparent huge pages are enabled on advice and the
  // kernel does not compact memory synchronously on a fault in an advised range (defrag "defer"
  // or "never"). With defrag "madvise" or "always", the first touch of a fresh advised block
  // stalls in direct compaction: measured 4-5x slower than small pages for a 26 MB output on a
  // loaded host, which a reused (warm) block does not make up for.
  static bool huge_advice() {
    static const bool on = [] {
      auto selected = [](const char* path) {
        char buf[256] = {0};
        FILE* f = std::fopen(path, "r");
        if (!f) return std::string();
        const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
        std::fclose(f);
        const std::string s(buf, n);
        const size_t a = s.find('['), b = s.find(']');
        return a != std::string::npos && b != std::string::npos && b > a
                   ? s.substr(a + 1, b - a - 1)
                   : std::string();
      };
      const std::string enabled = selected("/sys/kernel/mm/transparent_hugepage/enabled");
      const std::string defrag = selected("/sys/kernel/mm/transparent_hugepage/defrag");
      return enabled == "madvise" && (defrag == "defer" || defrag == "never");
    }();
    return on;
  }

 private:
  static constexpr size_t kHuge = size_t(2) << 20;
  std::mutex mu_;
  std::map<const void*, Block*> blocks_;
};

HostMemory& the_host_memory() {
  static HostMemory* m = new HostMemory;  // leaked on purpose, like the pools
  return *m;
}

struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  int64_t waiting = 0, passed = 0;
};
Gate& gate() {
  static Gate* g = new Gate;
  return *g;
}

}  // namespace

RawMemory& test_memory() { return the_test_memory(); }
RawMemory& host_memory() { return the_host_memory(); }
Block* find_host_block(const void* p) { return the_host_memory().find(p); }
void set_test_memory_limit(size_t bytes) { the_test_memory().set_limit(bytes); }

void gate_close() {
  std::lock_guard<std::mutex> l(gate().mu);
  gate().closed = true;
}
void gate_open() {
  Gate& g = gate();
  std::lock_guard<std::mutex> l(g.mu);
  g.closed = false;
  g.cv.notify_all();
}
void gate_pass() {
  Gate& g = gate();
  std::unique_lock<std::mutex> l(g.mu);
  ++g.waiting;
  g.cv.wait(l, [&] { return !g.closed; });
  --g.waiting;
  ++g.passed;
}
int64_t gate_waiting() {
  std::lock_guard<std::mutex> l(gate().mu);
  return gate().waiting;
}
int64_t gate_passed() {
  std::lock_guard<std::mutex> l(gate().mu);
  return gate().passed;
}

}  // namespace sl::mem

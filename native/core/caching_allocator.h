// Device memory owned by reference, and the caching allocator it comes from (host-side C++ only).
//
// A Block is one allocation of raw memory. Every owner of a block holds a DeviceRef (an intrusive,
// atomically counted handle): the JavaScript buffer object that wraps it, each share of it, and
// every in-flight native call that reads or writes it. When the last DeviceRef goes, the block is
// not freed but returned to its pool's cache, binned by size, and handed to the next allocation of
// that size class. Raw frees (trimming above the cache limit, emptying the cache) run on a
// background thread, never on the thread that dropped the last reference.
//
// Reuse is stream-ordered: when its last reference goes, a block records a fence on the releasing
// thread's stream (a CUDA event on cudaStreamPerThread); the block is handed out again only once
// that fence has completed (another ready block of the size class is preferred; failing that, the
// allocation waits for the fence). Work issued on that stream before the release therefore always
// finishes before the memory has a new owner.
//
// Raw memory comes from a RawMemory: CUDA (native/cuda/device_memory.cu) or, for tests, host pages
// standing in for a device (caching_allocator.cc): freed pages are poisoned and made inaccessible,
// so that a use after free reads garbage or faults instead of passing unnoticed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace sl::mem {

struct Block;

// A source of raw memory for one kind of device.
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  // bytes of fresh memory, or nullptr when the device is out of memory; other failures throw.
  virtual void* alloc(size_t bytes, int device) = 0;
  // Returns memory from alloc (called on the background thread, or on an out-of-memory retry).
  virtual void free(void* p, size_t bytes, int device) noexcept = 0;
  // Records the release fence of `b` on the calling thread's stream.
  virtual void record_fence(Block& b) noexcept = 0;
  // Whether the fence recorded last has completed (true when none was recorded).
  virtual bool fence_done(Block& b) noexcept = 0;
  // Blocks the calling thread until the fence recorded last has completed.
  virtual void wait_fence(Block& b) noexcept = 0;
  // Frees the fence object of `b` (before the raw free).
  virtual void destroy_fence(Block& b) noexcept = 0;
  // Called when a block goes back to the cache (the test memory poisons it).
  virtual void on_cached(Block&) noexcept {}
  // Whether the host can address the memory directly (the test memory): calls then run on the CPU.
  virtual bool host_visible() const = 0;
  // Name for statistics and error messages.
  virtual const char* name() const = 0;
  // A block was made (true) or is about to be freed for good (false).
  virtual void track(Block&, bool) noexcept {}
  // Bytes a pool of this memory may keep cached: a released block evicts the longest-cached
  // blocks to fit (a block larger than the limit is freed).
  std::atomic<size_t> cacheLimit{size_t(4) << 30};
};

struct Pool;

struct Block {
  void* ptr = nullptr;
  size_t bytes = 0;      // the size class (what the raw allocation holds)
  size_t requested = 0;  // what the current owner asked for
  int device = 0;
  Pool* pool = nullptr;
  void* fence = nullptr;  // RawMemory's fence object (a cudaEvent_t), created on first release
  uint64_t released = 0;  // when it went back to the cache (the pool's count of releases)
  std::atomic<int64_t> refs{0};
};

// Releases one reference (the last one returns the block to its pool's cache).
void unref(Block* b) noexcept;

// An owning handle: copying adds an owner, destruction removes one.
class DeviceRef {
 public:
  DeviceRef() = default;
  explicit DeviceRef(Block* b) noexcept : b_(b) {
    if (b_) b_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  DeviceRef(const DeviceRef& o) noexcept : DeviceRef(o.b_) {}
  DeviceRef(DeviceRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  DeviceRef& operator=(DeviceRef o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~DeviceRef() { reset(); }
  void reset() noexcept {
    if (Block* b = std::exchange(b_, nullptr)) unref(b);
  }
  explicit operator bool() const { return b_ != nullptr; }
  void* ptr() const { return b_ ? b_->ptr : nullptr; }
  size_t bytes() const { return b_ ? b_->requested : 0; }
  int device() const { return b_ ? b_->device : -1; }
  Block* block() const { return b_; }
  int64_t use_count() const { return b_ ? b_->refs.load() : 0; }

 private:
  Block* b_ = nullptr;
};

// Counters of one pool (one RawMemory on one device).
struct Stats {
  int64_t bytesInUse = 0;   // size classes of the blocks with owners
  int64_t bytesCached = 0;  // size classes of the cached blocks (no owner, ready for reuse)
  int64_t blocksInUse = 0;
  int64_t blocksCached = 0;
  int64_t rawBlocks = 0;  // raw allocations alive (in use, cached, or waiting to be freed)
  int64_t rawBytes = 0;
  int64_t rawAllocs = 0;   // raw allocations made so far
  int64_t rawFrees = 0;    // raw frees done so far
  int64_t cacheHits = 0;   // allocations served from the cache
  int64_t fenceWaits = 0;  // allocations that had to wait for a block's release fence
};

// The size class of a request: 512 bytes at least, then four classes per power of two.
size_t size_class(size_t bytes);

// A block of at least `bytes` on `device`, from the cache or fresh. When the device is out of
// memory, the cache of that device is emptied and the allocation retried once; then it throws
// CudaError ERR_CUDA_OUT_OF_MEMORY.
DeviceRef allocate(RawMemory& raw, int device, size_t bytes);

Stats stats(RawMemory& raw, int device);
// Frees every cached block of `raw` on `device` (all devices when device < 0) and waits until the
// background thread has done so.
void empty_cache(RawMemory& raw, int device);
// The cache limit of the device memories (CUDA and the test memory): see RawMemory::cacheLimit.
void set_cache_limit(size_t bytes);
size_t cache_limit();

// The host-page stand-in for a device (tests): see caching_allocator.cc. Its limit makes it
// report out of memory once that many bytes are allocated (no limit by default).
RawMemory& test_memory();
void set_test_memory_limit(size_t bytes);

// Host memory for tensor data (the default path's outputs, checkpoints and states): 64-byte
// aligned, huge-page advice (MADV_HUGEPAGE) for blocks of 2 MiB and more, so that a reused block
// is warm and a fresh large one faults in big pages. find_host_block maps a block's address to
// it (for the in-flight references of calls that receive host arrays).
RawMemory& host_memory();
Block* find_host_block(const void* p);
// Host arrays smaller than this are V8's own (the pool serves larger ones).
constexpr size_t kHostPoolMin = size_t(64) << 10;

// CUDA device memory: native/cuda/device_memory.cu, or in CPU-only builds the stub, which throws
// CudaError ERR_CUDA_NOT_BUILT.
RawMemory& cuda_memory();

// ---- test hooks --------------------------------------------------------------------------------
// A gate the async kernel calls pass before they run: closed, they wait on the libuv thread until
// it opens, so that a test can act (dispose, collect, terminate) while a call is known to be in
// flight. Open by default.
void gate_close();
void gate_open();
void gate_pass();        // called by each async call before it runs
int64_t gate_waiting();  // calls waiting at the gate now
int64_t gate_passed();   // calls that passed so far

}  // namespace sl::mem

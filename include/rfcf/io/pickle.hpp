#pragma once
// A data-only pickle interpreter (formats.md 0, 1.3, 1.4). It implements a fixed whitelist
// of opcodes; GLOBAL/STACK_GLOBAL resolve only a fixed whitelist of names, each mapped to a
// constructor written here (OrderedDict, torch tensor rebuilds, numpy arrays/dtypes,
// _codecs.encode). Nothing named in a file is ever imported or called. Every length, index
// and count is checked against the input and the configured limits; errors are FormatError
// with the absolute byte offset of the offending opcode.
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/dtype.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/host_tensor.hpp"
#include "rfcf/io/py_value.hpp"

namespace rfcf::io {

struct PickleLimits {
  int max_depth = 128;                 // nesting of containers
  size_t max_stack = size_t(1) << 20;  // stack items and marks
  size_t max_memo = size_t(1) << 20;   // memo entries
  size_t max_long_bytes = 8;           // LONG1/LONG4 argument length (int64 range)
  int max_rank = 8;                    // tensor / array rank
  size_t max_global_chars = 256;       // "module\nname\n" of GLOBAL
};

// Handler for BINPERSID: maps the persistent id (a tuple) to a value; nullptr: reject.
using PersistentLoad = std::function<PyPtr(const PyValue& pid)>;

struct UnpickleResult {
  PyPtr value;
  size_t end = 0;                // offset just after STOP (relative to the input)
  std::vector<PyPtr> tensors;    // every torch tensor created, for the loader to materialise
};

namespace detail {

inline std::string hex_byte(uint8_t b) {
  static const char* h = "0123456789abcdef";
  return std::string("0x") + h[b >> 4] + h[b & 15];
}

inline bool storage_dtype(const std::string& global, DType& out) {
  static const std::pair<const char*, DType> map[] = {
      {"torch.FloatStorage", DType::F32}, {"torch.DoubleStorage", DType::F64},
      {"torch.HalfStorage", DType::F16},  {"torch.BFloat16Storage", DType::BF16},
      {"torch.LongStorage", DType::I64},  {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8},
      {"torch.ByteStorage", DType::U8},   {"torch.BoolStorage", DType::Bool}};
  for (auto& [name, t] : map)
    if (global == name) {
      out = t;
      return true;
    }
  return false;
}

inline bool whitelisted_global(const std::string& g) {
  static const char* names[] = {"collections.OrderedDict",
                                "torch._utils._rebuild_tensor_v2",
                                "torch._utils._rebuild_tensor",
                                "torch._utils._rebuild_parameter",
                                "numpy.core.multiarray._reconstruct",
                                "numpy._core.multiarray._reconstruct",
                                "numpy.ndarray",
                                "numpy.dtype",
                                "_codecs.encode",
                                "torch.Size"};
  for (const char* n : names)
    if (g == n) return true;
  DType t;
  return storage_dtype(g, t);
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, size_t base, std::string where, const PickleLimits& limits,
            PersistentLoad persistent)
      : p_(data), n_(size), base_(base), where_(std::move(where)), lim_(limits), persistent_(std::move(persistent)) {}

  UnpickleResult run() {
    for (;;) {
      op_pos_ = pos_;
      const uint8_t op = u8();
      op_ = op;
      if (op == '.') {
        if (stack_.size() != 1 || !marks_.empty())
          error("STOP with ", stack_.size(), " stack items and ", marks_.size(), " open marks (expected one value)");
        UnpickleResult r;
        r.value = stack_.back();
        r.end = pos_;
        r.tensors = std::move(tensors_);
        return r;
      }
      step(op);
    }
  }

 private:
  // ---------------------------------------------------------------- errors and input
  template <class... A>
  [[noreturn]] void error(A&&... a) const {
    fail<FormatError>(where_, ": pickle byte ", base_ + op_pos_, " (opcode ", hex_byte(op_), "): ",
                      std::forward<A>(a)...);
  }
  const uint8_t* take(uint64_t k) {
    if (k > n_ - pos_) error("argument of ", k, " bytes runs past the end of the data (", n_ - pos_, " left)");
    const uint8_t* q = p_ + pos_;
    pos_ += static_cast<size_t>(k);
    return q;
  }
  uint8_t u8() { return *take(1); }
  template <class T>
  T le() { return load_le<T>(take(sizeof(T))); }

  // ---------------------------------------------------------------- stack and memo
  void push(PyPtr v) {
    if (stack_.size() >= lim_.max_stack) error("stack exceeds the limit of ", lim_.max_stack, " items");
    stack_.push_back(std::move(v));
  }
  PyPtr pop() {
    if (stack_.size() <= mark_floor()) error("pop from an empty stack");
    PyPtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyPtr& top() {
    if (stack_.size() <= mark_floor()) error("stack is empty");
    return stack_.back();
  }
  size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<PyPtr> pop_mark() {
    if (marks_.empty()) error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                             std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void memo_put(uint64_t idx) {
    PyPtr v = top();
    auto it = memo_.find(idx);
    if (it == memo_.end() && memo_.size() >= lim_.max_memo) error("memo exceeds the limit of ", lim_.max_memo, " entries");
    memo_[idx] = std::move(v);
  }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) error("memo index ", idx, " was never stored");
    push(it->second);
  }

  // ---------------------------------------------------------------- structure
  static bool is_container(const PyValue& v) {
    switch (v.kind()) {
      case PyValue::Kind::List: case PyValue::Kind::Tuple: case PyValue::Kind::Dict: case PyValue::Kind::Set:
      case PyValue::Kind::Array: case PyValue::Kind::NumpyDType: case PyValue::Kind::Tensor:
        return true;
      default:
        return false;
    }
  }
  // Records that `child` now lives inside `parent`: no cycles, bounded depth, child sealed.
  void adopt(PyValue& parent, const PyPtr& child) {
    if (child.get() == &parent) error("a ", parent.type_name(), " cannot contain itself");
    child->sealed = true;
    if (child->height + 1 > parent.height) parent.height = child->height + 1;
    if (parent.height > lim_.max_depth) error("nesting deeper than the limit of ", lim_.max_depth);
  }
  void require_mutable(const PyValue& v, const char* what) {
    if (v.sealed) error(what, " on a ", v.type_name(), " that is already part of another object");
  }
  PyPtr make_tuple(std::vector<PyPtr> items) {
    PyPtr t = PyValue::make(PyValue::Kind::Tuple);
    for (auto& i : items) adopt(*t, i);
    t->mutable_items() = std::move(items);
    return t;
  }
  void set_item(PyValue& dict, PyPtr k, PyPtr v) {
    if (!dict.is_dict()) error("SETITEM(S) on a ", dict.type_name());
    require_mutable(dict, "SETITEM");
    adopt(dict, k);
    adopt(dict, v);
    const char* kt = k->type_name();
    if (!dict.set_item(std::move(k), std::move(v))) error("dict key of type ", kt, " is not supported");
  }
  void append(PyValue& list, PyPtr v, PyValue::Kind kind) {
    if (!list.is(kind)) error(kind == PyValue::Kind::Set ? "ADDITEMS" : "APPEND(S)", " on a ", list.type_name());
    require_mutable(list, "APPEND");
    adopt(list, v);
    list.mutable_items().push_back(std::move(v));
  }

  // ---------------------------------------------------------------- scalars
  std::string text(uint64_t len) {
    const uint8_t* q = take(len);
    return std::string(reinterpret_cast<const char*>(q), static_cast<size_t>(len));
  }
  PyPtr long_value(uint64_t len) {
    if (len > lim_.max_long_bytes) error("integer of ", len, " bytes exceeds the limit of ", lim_.max_long_bytes);
    const uint8_t* q = take(len);
    if (len == 0) return PyValue::integer(0);
    uint64_t v = 0;
    for (uint64_t i = 0; i < len; ++i) v |= static_cast<uint64_t>(q[i]) << (8 * i);
    if (len < 8 && (q[len - 1] & 0x80)) v |= ~uint64_t(0) << (8 * len);  // sign-extend
    return PyValue::integer(static_cast<int64_t>(v));
  }
  std::string global_line() {
    std::string s;
    for (;;) {
      const uint8_t c = u8();
      if (c == '\n') return s;
      if (c < 0x20 || c > 0x7e) error("GLOBAL name contains a non-printable byte");
      if (s.size() >= lim_.max_global_chars) error("GLOBAL name longer than ", lim_.max_global_chars, " characters");
      s += static_cast<char>(c);
    }
  }
  void push_global(const std::string& module, const std::string& name) {
    const std::string g = module + "." + name;
    if (!whitelisted_global(g)) error("global '", g, "' is not allowed (rfcf loads data only, never code)");
    push(PyValue::global(g));
  }

  // ---------------------------------------------------------------- the opcode table
  void step(uint8_t op) {
    using K = PyValue::Kind;
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t v = u8();
        if (v > 5) error("unsupported pickle protocol ", int(v));
        break;
      }
      case 0x95: take(8); break;  // FRAME: framing is irrelevant for an in-memory reader
      case '(':
        if (marks_.size() >= lim_.max_stack) error("too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case '}': push(PyValue::make(K::Dict)); break;
      case ']': push(PyValue::make(K::List)); break;
      case ')': push(make_tuple({})); break;
      case 0x8f: push(PyValue::make(K::Set)); break;
      case 't': push(make_tuple(pop_mark())); break;
      case 0x85: { auto a = pop(); push(make_tuple({a})); break; }
      case 0x86: { auto b = pop(); auto a = pop(); push(make_tuple({a, b})); break; }
      case 0x87: { auto c = pop(); auto b = pop(); auto a = pop(); push(make_tuple({a, b, c})); break; }
      case 's': { auto v = pop(); auto k = pop(); set_item(*top(), k, v); break; }
      case 'u': {
        auto items = pop_mark();
        if (items.size() % 2) error("SETITEMS with an odd number of items");
        PyPtr d = top();
        for (size_t i = 0; i < items.size(); i += 2) set_item(*d, items[i], items[i + 1]);
        break;
      }
      case 'a': { auto v = pop(); append(*top(), v, K::List); break; }
      case 'e': {
        auto items = pop_mark();
        PyPtr l = top();
        if (!l->is(K::List)) error("APPENDS on a ", l->type_name());
        for (auto& v : items) append(*l, v, K::List);
        break;
      }
      case 0x90: {  // ADDITEMS
        auto items = pop_mark();
        PyPtr s = top();
        for (auto& v : items) append(*s, v, K::Set);
        break;
      }
      case 'K': push(PyValue::integer(u8())); break;
      case 'M': push(PyValue::integer(le<uint16_t>())); break;
      case 'J': push(PyValue::integer(le<int32_t>())); break;
      case 0x8a: { const uint8_t len = u8(); push(long_value(len)); break; }
      case 0x8b: {
        const int32_t len = le<int32_t>();
        if (len < 0) error("LONG4 with negative length");
        push(long_value(static_cast<uint64_t>(len)));
        break;
      }
      case 'G': {  // big-endian IEEE double
        const uint8_t* q = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | q[i];
        double d;
        std::memcpy(&d, &bits, 8);
        push(PyValue::real(d));
        break;
      }
      case 'N': push(PyValue::none()); break;
      case 0x88: push(PyValue::boolean(true)); break;
      case 0x89: push(PyValue::boolean(false)); break;
      case 'X': push(PyValue::string(text(le<uint32_t>()))); break;
      case 0x8c: push(PyValue::string(text(u8()))); break;
      case 0x8d: push(PyValue::string(text(le<uint64_t>()))); break;
      // Python-2 str: raw bytes, never decoded as text.
      case 'U': push(PyValue::bytes(text(u8()))); break;
      case 'T': {
        const int32_t len = le<int32_t>();
        if (len < 0) error("BINSTRING with negative length");
        push(PyValue::bytes(text(static_cast<uint64_t>(len))));
        break;
      }
      case 'C': push(PyValue::bytes(text(u8()))); break;
      case 'B': push(PyValue::bytes(text(le<uint32_t>()))); break;
      case 0x8e: push(PyValue::bytes(text(le<uint64_t>()))); break;
      case 'q': memo_put(u8()); break;
      case 'r': memo_put(le<uint32_t>()); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'h': memo_get(u8()); break;
      case 'j': memo_get(le<uint32_t>()); break;
      case 'c': {
        const std::string module = global_line();
        const std::string name = global_line();
        push_global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!module->is(K::String) || !name->is(K::String)) error("STACK_GLOBAL needs two strings");
        push_global(module->as_string(), name->as_string());
        break;
      }
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'R': {
        auto args = pop();
        auto callable = pop();
        push(reduce(*callable, *args));
        break;
      }
      case 'b': {
        auto state = pop();
        build(*top(), state);
        break;
      }
      case 'Q': {
        auto pid = pop();
        if (!persistent_) error("persistent id in a pickle that does not allow them");
        PyPtr v;
        try {
          v = persistent_(*pid);
        } catch (const FormatError& e) {
          error(e.what());
        }
        if (!v) error("persistent id rejected");
        push(std::move(v));
        break;
      }
      default:
        error("opcode is not allowed (rfcf's pickle reader accepts data-only opcodes)");
    }
  }

  // ---------------------------------------------------------------- REDUCE
  static bool is_empty_hooks(const PyValue& v) { return v.is_none() || (v.is_dict() && v.size() == 0); }

  std::vector<int64_t> int_tuple(const PyValue& v, const char* what) {
    if (!v.is(PyValue::Kind::Tuple) && !v.is(PyValue::Kind::List)) error(what, " must be a tuple of ints, found a ", v.type_name());
    if (static_cast<int>(v.items().size()) > lim_.max_rank) error(what, " has rank ", v.items().size(), " > ", lim_.max_rank);
    std::vector<int64_t> out;
    for (auto& i : v.items()) {
      if (!i->is(PyValue::Kind::Int)) error(what, " must contain ints, found a ", i->type_name());
      out.push_back(i->as_int());
    }
    return out;
  }

  PyPtr rebuild_tensor(const std::vector<PyPtr>& a, bool v2) {
    using K = PyValue::Kind;
    const size_t n = a.size();
    if (v2 ? (n != 6 && n != 7) : n != 4) error("tensor rebuild with ", n, " arguments");
    if (!a[0]->is(K::Storage)) error("tensor rebuild: first argument is a ", a[0]->type_name(), ", not a storage");
    if (!a[1]->is(K::Int)) error("tensor rebuild: storage offset is not an int");
    auto ref = std::make_shared<TorchTensorRef>();
    ref->storage = a[0]->mutable_storage();
    ref->offset = a[1]->as_int();
    ref->size = int_tuple(*a[2], "tensor size");
    ref->stride = int_tuple(*a[3], "tensor stride");
    if (v2) {
      if (!a[4]->is(K::Bool)) error("tensor rebuild: requires_grad is not a bool");
      ref->requires_grad = a[4]->as_bool();
      if (!is_empty_hooks(*a[5])) error("tensor rebuild: backward hooks must be empty");
      if (n == 7 && !a[6]->is_none() && !a[6]->is_dict()) error("tensor rebuild: metadata must be None or a dict");
    }
    check_view(*ref);
    PyPtr t = PyValue::make(K::Tensor);
    t->mutable_ref() = ref;
    t->height = 1;
    tensors_.push_back(t);
    return t;
  }

  // offset + sum (size_i - 1) * stride_i < numel for non-empty tensors, overflow-checked.
  void check_view(const TorchTensorRef& r) {
    if (r.size.size() != r.stride.size()) error("tensor size has rank ", r.size.size(), " but stride has ", r.stride.size());
    if (r.offset < 0) error("negative storage offset");
    int64_t numel = 1, last = r.offset;
    for (size_t i = 0; i < r.size.size(); ++i) {
      if (r.size[i] < 0 || r.stride[i] < 0) error("negative tensor size or stride");
      if (!mul_ok(numel, r.size[i], numel)) error("tensor size overflows");
    }
    if (numel == 0) return;
    // Views that repeat elements (stride 0 broadcasts) would let a tiny storage expand into
    // an arbitrarily large tensor; torch.save never needs them for parameters.
    if (numel > r.storage->numel)
      error("tensor of ", numel, " elements views a storage of only ", r.storage->numel, " elements");
    for (size_t i = 0; i < r.size.size(); ++i) {
      int64_t span;
      if (!mul_ok(r.size[i] - 1, r.stride[i], span) || span > std::numeric_limits<int64_t>::max() - last)
        error("tensor view overflows");
      last += span;
    }
    if (last >= r.storage->numel)
      error("tensor view (offset ", r.offset, ", size ", shape_str(r.size), ", stride ", shape_str(r.stride),
            ") reaches element ", last, " of a storage with ", r.storage->numel, " elements");
  }

  PyPtr reduce(const PyValue& callable, const PyValue& args_v) {
    using K = PyValue::Kind;
    if (!callable.is(K::Global)) error("REDUCE on a ", callable.type_name(), " (only whitelisted globals are callable)");
    if (!args_v.is(K::Tuple)) error("REDUCE arguments are a ", args_v.type_name(), ", not a tuple");
    const auto& a = args_v.items();
    const std::string& g = callable.as_string();
    if (g == "collections.OrderedDict") {
      PyPtr d = PyValue::make(K::Dict);
      d->set_ordered(true);
      if (a.size() == 1 && a[0]->is_sequence()) {  // Python 2: OrderedDict([[k, v], ...])
        for (auto& kv : a[0]->items()) {
          if (!kv->is_sequence() || kv->items().size() != 2) error("OrderedDict item is not a pair");
          set_item(*d, kv->items()[0], kv->items()[1]);
        }
      } else if (!a.empty()) {
        error("OrderedDict with unexpected arguments");
      }
      return d;
    }
    if (g == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(a, true);
    if (g == "torch._utils._rebuild_tensor") return rebuild_tensor(a, false);
    if (g == "torch._utils._rebuild_parameter") {
      if (a.size() != 3 || !a[0]->is(K::Tensor) || !a[1]->is(K::Bool) || !is_empty_hooks(*a[2]))
        error("_rebuild_parameter expects (tensor, requires_grad, empty hooks)");
      return a[0];
    }
    if (g == "torch.Size") {
      if (a.size() != 1 || !a[0]->is(K::Tuple)) error("torch.Size expects one tuple");
      return a[0];
    }
    if (g == "numpy.core.multiarray._reconstruct" || g == "numpy._core.multiarray._reconstruct") {
      if (a.size() != 3 || !a[0]->is(K::Global) || a[0]->as_string() != "numpy.ndarray")
        error("_reconstruct expects (numpy.ndarray, (0,), b'b')");
      PyPtr arr = PyValue::make(K::Array);
      arr->height = 1;
      return arr;
    }
    if (g == "numpy.dtype") {
      // Python 2 pickles hold the code as a byte string.
      if (a.size() != 3 || !(a[0]->is(K::String) || a[0]->is(K::Bytes))) error("numpy.dtype expects (code, align, copy)");
      PyPtr dt = PyValue::make(K::NumpyDType);
      dt->set_text(a[0]->as_string());
      return dt;
    }
    if (g == "_codecs.encode") {
      if (a.size() != 2 || !a[0]->is(K::String) || !a[1]->is(K::String) || a[1]->as_string() != "latin1")
        error("_codecs.encode is only allowed as (str, 'latin1')");
      return PyValue::bytes(latin1(a[0]->as_string()));
    }
    error("global '", g, "' cannot be called");
  }

  // UTF-8 text whose code points are all < 256 -> one byte per code point.
  std::string latin1(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<uint8_t>(s[i]);
      if (c < 0x80) {
        out += static_cast<char>(c);
      } else if ((c & 0xE0) == 0xC0 && c <= 0xC3 && i + 1 < s.size() && (static_cast<uint8_t>(s[i + 1]) & 0xC0) == 0x80) {
        out += static_cast<char>(((c & 0x1F) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3F));
        ++i;
      } else {
        error("_codecs.encode: text is not latin-1");
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- BUILD
  void build(PyValue& obj, const PyPtr& state) {
    using K = PyValue::Kind;
    require_mutable(obj, "BUILD");
    if (obj.built) error("BUILD applied twice to a ", obj.type_name());
    obj.built = true;
    if (obj.is_ordered_dict()) {  // attributes, e.g. _metadata of a state dict
      if (state->is_none()) return;
      if (!state->is_dict()) error("BUILD state of an OrderedDict must be a dict");
      adopt(obj, state);
      obj.set_attributes(state);
      return;
    }
    if (obj.is(K::NumpyDType)) {
      if (!state->is(K::Tuple) || state->items().size() < 2 ||
          !(state->items()[1]->is(K::String) || state->items()[1]->is(K::Bytes)))
        error("numpy.dtype state must be a tuple (version, byte order, ...)");
      const auto& s = state->items();
      for (size_t i = 2; i < 5 && i < s.size(); ++i)
        if (!s[i]->is_none()) error("structured numpy dtypes are not supported");
      const std::string& order = s[1]->as_string();
      if (order.size() != 1) error("numpy.dtype byte order '", order, "'");
      obj.set_text(obj.as_string() + "/" + order);
      return;
    }
    if (obj.is(K::Array)) return build_array(obj, *state);
    error("BUILD on a ", obj.type_name(), " is not allowed");
  }

  void build_array(PyValue& arr, const PyValue& state) {
    using K = PyValue::Kind;
    if (!state.is(K::Tuple)) error("numpy array state must be a tuple");
    const auto& s0 = state.items();
    if (s0.size() != 4 && s0.size() != 5) error("numpy array state has ", s0.size(), " items");
    const size_t o = s0.size() == 5 ? 1 : 0;
    if (o && (!s0[0]->is(K::Int) || s0[0]->as_int() != 1)) error("numpy array state version must be 1");
    const std::vector<int64_t> shape = int_tuple(*s0[o], "numpy array shape");
    const PyValue& dt = *s0[o + 1];
    if (!dt.is(K::NumpyDType)) error("numpy array dtype is a ", dt.type_name());
    if (!s0[o + 2]->is(K::Bool)) error("numpy array fortran flag is not a bool");
    const PyValue& raw = *s0[o + 3];
    if (!raw.is(K::Bytes)) error("numpy array data must be bytes (object arrays are not supported)");

    // dtype: code and byte order, e.g. "u1/|", "f4/<" (also "<f4/=" style codes).
    std::string code = dt.as_string();
    const auto slash = code.find('/');
    char order = '=';
    if (slash != std::string::npos) {
      order = code[slash + 1];
      code = code.substr(0, slash);
    }
    if (!code.empty() && (code[0] == '<' || code[0] == '|' || code[0] == '=')) {
      if (code[0] != '=') order = code[0];
      code = code.substr(1);
    }
    DType t;
    if (code == "u1") t = DType::U8;
    else if (code == "f4") t = DType::F32;
    else if (code == "f8") t = DType::F64;
    else if (code == "i4") t = DType::I32;
    else if (code == "i8") t = DType::I64;
    else error("numpy dtype '", code, "' is not supported (u1, f4, f8, i4, i8 are)");
    if (order == '>') error("big-endian numpy arrays are not supported");
    const int64_t numel = [&] {
      int64_t n = 1;
      for (int64_t d : shape)
        if (d < 0 || !mul_ok(n, d, n)) error("numpy array shape ", shape_str(shape), " is invalid");
      return n;
    }();
    int64_t nbytes;
    if (!mul_ok(numel, static_cast<int64_t>(element_size(t)), nbytes) ||
        static_cast<uint64_t>(nbytes) != raw.as_bytes().size())
      error("numpy array of shape ", shape_str(shape), " and dtype ", code, " does not match its ",
            raw.as_bytes().size(), " data bytes");
    if (s0[o + 2]->as_bool()) {
      int big = 0;
      for (int64_t d : shape) big += d > 1;
      if (big > 1) error("Fortran-ordered numpy arrays are not supported");
    }
    auto host = std::make_shared<HostTensor>();
    host->dtype = t;
    host->shape = shape;
    host->bytes.assign(raw.as_bytes().begin(), raw.as_bytes().end());
    arr.mutable_tensor() = std::move(host);
  }

  const uint8_t* p_;
  size_t n_;
  size_t base_;
  std::string where_;
  PickleLimits lim_;
  PersistentLoad persistent_;
  size_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyPtr> memo_;
  std::vector<PyPtr> tensors_;
};

}  // namespace detail

// Interprets one pickle starting at data[0]; stops at its STOP opcode. `base` is the
// absolute offset of data[0] in the file (for error messages), `where` names the file.
inline UnpickleResult unpickle(const uint8_t* data, size_t size, const std::string& where = "pickle",
                               size_t base = 0, const PickleLimits& limits = {},
                               PersistentLoad persistent = nullptr) {
  return detail::Unpickler(data, size, base, where, limits, std::move(persistent)).run();
}

}  // namespace rfcf::io

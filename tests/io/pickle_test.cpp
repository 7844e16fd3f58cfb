#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "io/io_test_util.hpp"
#include "rfcf/io/insightface_bin.hpp"
#include "rfcf/io/torch_file.hpp"

using namespace rfcf;
using namespace rfcf::io;

namespace {

// Builds pickle byte streams opcode by opcode.
struct PB {
  std::vector<uint8_t> b;
  PB& op(uint8_t c) { b.push_back(c); return *this; }
  PB& raw(const std::string& s) { b.insert(b.end(), s.begin(), s.end()); return *this; }
  PB& u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); return *this; }
  PB& str(const std::string& s) { return op('X').u32(static_cast<uint32_t>(s.size())).raw(s); }
  PB& int1(uint8_t v) { return op('K').op(v); }
  PB& global(const std::string& m, const std::string& n) { return op('c').raw(m + "\n" + n + "\n"); }
  PB& proto(uint8_t v = 2) { return op(0x80).op(v); }
};

template <size_t N>
std::vector<uint8_t> bytes_of(const char (&lit)[N]) { return std::vector<uint8_t>(lit, lit + N - 1); }

PyPtr run(const std::vector<uint8_t>& b, PersistentLoad pl = nullptr, const PickleLimits& lim = {}) {
  return unpickle(b.data(), b.size(), "test", 100, lim, std::move(pl)).value;
}
std::string error_of(const std::vector<uint8_t>& b, PersistentLoad pl = nullptr) {
  try {
    run(b, std::move(pl));
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

// A torch tensor pickle: _rebuild_tensor_v2((storage of `numel` floats), offset, size, stride, False, None).
std::vector<uint8_t> tensor_pickle(int64_t numel, uint8_t offset, std::vector<int32_t> size, std::vector<int32_t> stride) {
  PB p;
  p.proto().global("torch._utils", "_rebuild_tensor_v2").op('(');
  p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('J').u32(static_cast<uint32_t>(numel)).op('N').op('t').op('Q');
  p.int1(offset);
  p.op('(');
  for (int32_t s : size) p.op('J').u32(static_cast<uint32_t>(s));
  p.op('t').op('(');
  for (int32_t s : stride) p.op('J').u32(static_cast<uint32_t>(s));
  p.op('t').op(0x89).op('N').op('t').op('R').op('.');
  return p.b;
}

}  // namespace

TEST_CASE("pickle: values written by Python 3 (protocol 4: FRAME, MEMOIZE, STACK_GLOBAL, sets)", "[io][pickle]") {
  // pickle.dumps(OrderedDict([('a', 1), ('b', [1.5, None, True, -70000, 2**40, -2**63]),
  //                           ('c', (b'\xff\x00', 'é', {3})), ('d', {})]), protocol=4)
  const auto b = bytes_of("\x80\x04\x95\x70\x00\x00\x00\x00\x00\x00\x00\x8c\x0b\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x94\x8c\x0b\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x94\x93\x94\x29\x52\x94\x28\x8c\x01\x61\x94\x4b\x01\x8c\x01\x62\x94\x5d\x94\x28\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x4e\x88\x4a\x90\xee\xfe\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x65\x8c\x01\x63\x94\x43\x02\xff\x00\x94\x8c\x02\xc3\xa9\x94\x8f\x94\x28\x4b\x03\x90\x87\x94\x8c\x01\x64\x94\x7d\x94\x75\x2e");
  PyPtr v = run(b);
  REQUIRE(v->is_ordered_dict());
  CHECK(v->at("a").as_int() == 1);
  const auto& l = v->at("b").items();
  REQUIRE(l.size() == 6);
  CHECK(l[0]->as_double() == 1.5);
  CHECK(l[1]->is_none());
  CHECK(l[2]->as_bool());
  CHECK(l[3]->as_int() == -70000);
  CHECK(l[4]->as_int() == (int64_t(1) << 40));
  CHECK(l[5]->as_int() == INT64_MIN);
  const auto& c = v->at("c").items();
  CHECK(c[0]->as_bytes() == std::string("\xff\x00", 2));
  CHECK(c[1]->as_string() == "\xc3\xa9");
  CHECK(c[2]->is(PyValue::Kind::Set));
  CHECK(c[2]->items()[0]->as_int() == 3);
  CHECK(v->at("d").is_dict());
  CHECK(v->at("d").size() == 0);
}

TEST_CASE("pickle: protocol-2 idioms (_codecs.encode bytes, Python-2 strings, DUP, POP_MARK)", "[io][pickle]") {
  PB p;
  p.proto().op(']').op('(');
  p.global("_codecs", "encode").str(std::string("\xc3\xbf\x00" "A", 4)).str("latin1").op(0x86).op('R');  // b'\xff\x00A'
  p.op('U').op(2).raw("\xff\xd8");                                                   // SHORT_BINSTRING
  p.op('T').u32(3).raw("abc");                                                       // BINSTRING
  p.op(0x8a).op(1).op(0xff);                                                         // LONG1 -1
  p.op(0x8a).op(0);                                                                  // LONG1 0
  p.op('M').op(0xe9).op(0x03);                                                       // BININT2 1001
  p.op('e');
  p.op('(').int1(9).int1(9).op('1');  // POP_MARK discards
  p.op('2').op('0');                  // DUP then POP
  p.op('.');
  PyPtr v = run(p.b);
  const auto& it = v->items();
  REQUIRE(it.size() == 6);
  CHECK(it[0]->as_bytes() == std::string("\xff\x00" "A", 3));
  CHECK(it[1]->as_bytes() == "\xff\xd8");
  CHECK(it[2]->is(PyValue::Kind::Bytes));
  CHECK(it[3]->as_int() == -1);
  CHECK(it[4]->as_int() == 0);
  CHECK(it[5]->as_int() == 1001);
}

TEST_CASE("pickle: everything outside the whitelist is rejected with the byte offset", "[io][pickle]") {
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"os.system", PB().proto().global("os", "system").str("ls").op(0x85).op('R').op('.').b,
                   "global 'os.system' is not allowed"});
  cases.push_back({"builtins.eval via STACK_GLOBAL", PB().proto(4).str("builtins").str("eval").op(0x93).op('.').b,
                   "global 'builtins.eval' is not allowed"});
  cases.push_back({"__builtin__.set (protocol 2 sets)", PB().proto().global("__builtin__", "set").op('.').b, "not allowed"});
  cases.push_back({"INST", PB().proto().op('i').raw("os\nsystem\n").op('.').b, "opcode is not allowed"});
  cases.push_back({"OBJ", PB().proto().op('(').op('o').op('.').b, "opcode is not allowed"});
  cases.push_back({"NEWOBJ", PB().proto().op(0x81).op('.').b, "opcode is not allowed"});
  cases.push_back({"PERSID", PB().proto().op('P').raw("x\n").op('.').b, "opcode is not allowed"});
  cases.push_back({"text INT", PB().proto().op('I').raw("1\n").op('.').b, "opcode is not allowed"});
  cases.push_back({"EXT1", PB().proto().op(0x82).op(1).op('.').b, "opcode is not allowed"});
  cases.push_back({"protocol 6", PB().proto(6).op('N').op('.').b, "unsupported pickle protocol"});
  cases.push_back({"huge BINUNICODE", PB().proto().op('X').u32(0xFFFFFFFFu).raw("ab").b, "runs past the end"});
  cases.push_back({"huge BINBYTES8", PB().proto().op(0x8e).u32(0).u32(0x80000000u).b, "runs past the end"});
  cases.push_back({"negative BINSTRING", PB().proto().op('T').u32(0xFFFFFFFFu).b, "negative length"});
  cases.push_back({"LONG1 too long", PB().proto().op(0x8a).op(200).raw(std::string(200, '\1')).op('.').b, "exceeds the limit"});
  cases.push_back({"LONG4 too long", PB().proto().op(0x8b).u32(1u << 30).b, "exceeds the limit"});
  cases.push_back({"missing memo", PB().proto().op('h').op(3).op('.').b, "memo index 3 was never stored"});
  cases.push_back({"LONG_BINGET", PB().proto().op('j').u32(0xFFFFFFF0u).op('.').b, "never stored"});
  cases.push_back({"TUPLE without MARK", PB().proto().op('t').op('.').b, "no MARK"});
  cases.push_back({"pop below MARK", PB().proto().op('N').op('(').op(0x85).op('.').b, "empty stack"});
  cases.push_back({"SETITEM on empty", PB().proto().op('s').b, "empty stack"});
  cases.push_back({"SETITEM on list", PB().proto().op(']').int1(1).int1(2).op('s').op('.').b, "SETITEM(S) on a list"});
  cases.push_back({"unhashable key", PB().proto().op('}').op(']').int1(2).op('s').op('.').b, "key of type list"});
  cases.push_back({"two values at STOP", PB().proto().op('N').op('N').op('.').b, "STOP with 2 stack items"});
  cases.push_back({"no STOP", PB().proto().op('N').b, "runs past the end"});
  cases.push_back({"self-containing list", PB().proto().op(']').op('q').op(0).op('h').op(0).op('a').op('.').b, "cannot contain itself"});
  cases.push_back({"mutating a contained list (cycle attempt)",
                   PB().proto().op(']').op('q').op(0).op(']').op('h').op(0).op('a').op('0').int1(1).op('a').op('.').b,
                   "already part of another object"});
  cases.push_back({"REDUCE on a string", PB().proto().str("x").op(')').op('R').op('.').b, "REDUCE on a str"});
  cases.push_back({"OrderedDict with args", PB().proto().global("collections", "OrderedDict").int1(1).op(0x85).op('R').op('.').b, "unexpected arguments"});
  cases.push_back({"_codecs.encode utf-8", PB().proto().global("_codecs", "encode").str("a").str("utf-8").op(0x86).op('R').op('.').b, "only allowed as (str, 'latin1')"});
  cases.push_back({"BUILD on a list", PB().proto().op(']').op('}').op('b').op('.').b, "BUILD on a list"});
  cases.push_back({"storage class called", PB().proto().global("torch", "FloatStorage").op(')').op('R').op('.').b, "cannot be called"});
  cases.push_back({"persistent id without handler", PB().proto().str("x").op('Q').op('.').b, "does not allow them"});
  cases.push_back({"GLOBAL without newline", PB().proto().op('c').raw(std::string(300, 'a')).b, "longer than"});
  cases.push_back({"GLOBAL binary", PB().proto().op('c').raw("os\x01\n").b, "non-printable"});
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string msg = error_of(c.bytes);
    CHECK_THAT(msg, Catch::Contains(c.message));
    CHECK_THAT(msg, Catch::Contains("test: pickle byte 1"));  // base offset 100 + position
  }
  // Deep nesting beyond the limit.
  PB deep;
  deep.proto();
  for (int i = 0; i < 201; ++i) deep.op(']');
  for (int i = 0; i < 200; ++i) deep.op('a');
  deep.op('.');
  CHECK_THAT(error_of(deep.b), Catch::Contains("nesting deeper than the limit of 128"));
  // Stack and memo limits.
  PickleLimits small;
  small.max_stack = 10;
  small.max_memo = 2;
  PB many;
  many.proto();
  for (int i = 0; i < 11; ++i) many.op('N');
  CHECK_THROWS_WITH(run(many.b, nullptr, small), Catch::Contains("stack exceeds the limit of 10"));
  CHECK_THROWS_WITH(run(PB().proto().op('N').op('q').op(0).op('q').op(1).op('q').op(2).op('.').b, nullptr, small),
                    Catch::Contains("memo exceeds the limit of 2"));
  // Every truncation of a valid pickle fails cleanly.
  const auto good = tensor_pickle(4, 0, {2, 2}, {2, 1});
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> t(good.begin(), good.begin() + static_cast<long>(len));
    io::detail::StorageTable table(6);
    CHECK_THROWS_AS(run(t, [&](const PyValue& pid) { return table.load(pid); }), FormatError);
  }
}

TEST_CASE("pickle: tensor views are bounds-checked against their storage", "[io][pickle]") {
  auto load = [](const std::vector<uint8_t>& b) {
    io::detail::StorageTable table(6);
    return unpickle(b.data(), b.size(), "t", 0, {}, [&](const PyValue& pid) { return table.load(pid); });
  };
  UnpickleResult ok = load(tensor_pickle(6, 1, {2, 2}, {1, 2}));  // strided view at offset 1
  REQUIRE(ok.tensors.size() == 1);
  auto& st = *ok.value->ref().storage;
  st.bytes.resize(6 * 4);
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i);
    std::memcpy(st.bytes.data() + 4 * i, &f, 4);
  }
  st.loaded = true;
  io::detail::materialise_all(ok.tensors, "t", 1000, {});
  // element (i, j) = storage[1 + i + 2j]
  CHECK(ok.value->tensor().as_float() == std::vector<float>{1, 3, 2, 4});

  auto error = [&](const std::vector<uint8_t>& b) {
    try {
      load(b);
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error(tensor_pickle(4, 0, {5}, {1})), Catch::Contains("views a storage of only 4"));
  CHECK_THAT(error(tensor_pickle(4, 0, {2}, {4})), Catch::Contains("reaches element 4"));
  CHECK_THAT(error(tensor_pickle(4, 3, {2}, {1})), Catch::Contains("reaches element 4"));
  CHECK_THAT(error(tensor_pickle(4, 0, {2}, {-1})), Catch::Contains("negative tensor size or stride"));
  CHECK_THAT(error(tensor_pickle(4, 0, {-2}, {1})), Catch::Contains("negative"));
  CHECK_THAT(error(tensor_pickle(4, 0, {2, 2}, {1})), Catch::Contains("stride has 1"));
  CHECK_THAT(error(tensor_pickle(1 << 30, 0, {65536, 65536, 65536}, {0, 0, 0})), Catch::Contains("views a storage"));
  CHECK_THAT(error(tensor_pickle(4, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1})), Catch::Contains("rank 9"));
  // Empty tensors need no storage elements.
  CHECK(error(tensor_pickle(0, 0, {0, 3}, {3, 1})).empty());
}

TEST_CASE("insightface small_lfw.bin: 20 JPEG byte strings (17 distinct) and 10 true pairs", "[io][bin]") {
  VerificationBin bin = read_verification_bin(rfcf_test::shared("fixtures/recognition/small_lfw.bin"));
  REQUIRE(bin.images.size() == 20);
  REQUIRE(bin.pairs() == 10);
  CHECK(std::all_of(bin.issame.begin(), bin.issame.end(), [](bool b) { return b; }));
  for (const std::string& img : bin.images) {
    CHECK(img.size() >= 4543);
    CHECK(img.size() <= 6785);
    CHECK(img.substr(0, 2) == "\xff\xd8");
    CHECK(img.substr(img.size() - 2) == "\xff\xd9");
  }
  CHECK(std::set<std::string>(bin.images.begin(), bin.images.end()).size() == 17);
}

TEST_CASE("insightface .bin: Python-2 variant with BINSTRING images and APPEND batches", "[io][bin]") {
  // What Python 2's pickle (protocol 2) writes for ([jpeg_a, jpeg_b, jpeg_c, jpeg_d, jpeg_e, array_f],
  // [True, False, True]).
  const std::string a = "\xff\xd8" "short\xff\xd9";
  const std::string big(300, '\xab');
  PB p;
  p.proto().op(']').op('q').op(1).op('(');
  p.op('U').op(static_cast<uint8_t>(a.size())).raw(a);
  p.op('T').u32(static_cast<uint32_t>(big.size())).raw(big);
  p.op('U').op(static_cast<uint8_t>(a.size())).raw(a);
  p.op('e');
  p.op('T').u32(1).raw("\xff").op('a');  // a lone trailing item
  // A numpy uint8 array as Python 2 pickles it (codes and byte order are byte strings).
  p.global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").int1(0).op(0x85).op('U').op(1).raw("b").op(0x87).op('R');
  p.op('(').int1(1).int1(3).int1(1).op(0x86);
  p.global("numpy", "dtype").op('U').op(2).raw("u1").int1(0).int1(1).op(0x87).op('R');
  p.op('(').int1(3).op('U').op(1).raw("|").op('N').op('N').op('N').op('J').u32(0xFFFFFFFFu).op('J').u32(0xFFFFFFFFu).int1(0).op('t').op('b');
  p.op(0x89).op('U').op(3).raw(std::string("\xff\xd8\x00", 3)).op('t').op('b').op('a');
  p.op('U').op(1).raw("e").op('a');
  p.op(']').op('q').op(2).op('(').op(0x88).op(0x89).op(0x88).op('e').op(0x86).op('q').op(3).op('.');
  VerificationBin bin = parse_verification_bin(p.b.data(), p.b.size());
  REQUIRE(bin.images.size() == 6);
  CHECK(bin.images[0] == a);
  CHECK(bin.images[1] == big);
  CHECK(bin.images[3] == "\xff");
  CHECK(bin.images[4] == std::string("\xff\xd8\x00", 3));
  CHECK(bin.images[5] == "e");
  CHECK(bin.issame == std::vector<bool>{true, false, true});

  // Odd image count, wrong types and trailing bytes are errors.
  PB odd;
  odd.proto().op(']').op('U').op(1).raw("x").op('a').op(']').op(0x88).op('a').op(0x86).op('.');
  CHECK_THROWS_WITH(parse_verification_bin(odd.b.data(), odd.b.size()), Catch::Contains("1 images for 1 pairs"));
  PB wrong;
  wrong.proto().op(']').int1(1).op('a').int1(2).op('a').op(']').op(0x88).op('a').op(0x86).op('.');
  CHECK_THROWS_WITH(parse_verification_bin(wrong.b.data(), wrong.b.size()), Catch::Contains("image 0 is a int"));
  auto trailing = p.b;
  trailing.push_back('N');
  CHECK_THROWS_WITH(parse_verification_bin(trailing.data(), trailing.size()), Catch::Contains("unexpected bytes"));
  auto lfw = read_file_bytes(rfcf_test::shared("fixtures/recognition/small_lfw.bin"));
  for (size_t len : {size_t(0), size_t(2), size_t(100), size_t(5000), lfw.size() / 2, lfw.size() - 1}) {
    CHECK_THROWS_AS(parse_verification_bin(lfw.data(), len), FormatError);
  }
}

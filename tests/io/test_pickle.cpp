// Unpickler unit tests on hand-built pickle byte strings: one test per opcode family, the allow-list, and
// damaged streams.
#include <gtest/gtest.h>

#include <cstring>

#include "yolocpp/io/pickle.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
using Kind = PValue::Kind;

namespace {

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
std::string op(unsigned char c) { return std::string(1, static_cast<char>(c)); }
std::string binunicode(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string short_unicode(const std::string& s) { return op(0x8c) + le(s.size(), 1) + s; }
std::string binint1(int v) { return "K" + le(v, 1); }
std::string binfloat(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  std::string s;
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((u >> (8 * i)) & 0xff));  // big-endian
  return s;
}
const std::string P2 = op(0x80) + op(2);

PValuePtr load(const std::string& s, const PersistentLoad& pl = {}) { return unpickle(s, "test.pkl", pl); }

}  // namespace

TEST(Unpickler, ScalarOpcodes) {
  std::string s = P2 + "(" + "N" + op(0x88) + op(0x89) + binint1(7) + "M" + le(300, 2) + "J" + le(uint32_t(-5), 4) +
                  op(0x8a) + op(5) + le(1ull << 36, 5) +          // LONG1 2^36
                  op(0x8a) + op(1) + op(0xff) +                    // LONG1 -1
                  op(0x8a) + op(0) +                               // LONG1 0
                  op(0x8b) + le(2, 4) + le(0x8000, 2) +            // LONG4 -32768
                  "G" + binfloat(1.5) + short_unicode("h\xc3\xa9") + binunicode("abc") + op(0x8d) + le(2, 8) + "xy" +
                  "C" + op(3) + std::string("\x00\x01\xff", 3) + "B" + le(1, 4) + "z" + op(0x8e) + le(1, 8) + "w" +
                  "T" + le(2, 4) + "st" + "U" + op(1) + "u" + "t.";
  auto v = load(s);
  ASSERT_TRUE(v->is(Kind::Tuple));
  const auto& it = v->items;
  ASSERT_EQ(it.size(), 19u);
  EXPECT_TRUE(it[0]->is_none());
  EXPECT_TRUE(it[1]->is(Kind::Bool) && it[1]->b);
  EXPECT_TRUE(it[2]->is(Kind::Bool) && !it[2]->b);
  EXPECT_EQ(it[3]->i, 7);
  EXPECT_EQ(it[4]->i, 300);
  EXPECT_EQ(it[5]->i, -5);
  EXPECT_EQ(it[6]->i, int64_t(1) << 36);
  EXPECT_EQ(it[7]->i, -1);
  EXPECT_EQ(it[8]->i, 0);
  EXPECT_EQ(it[9]->i, -32768);
  EXPECT_DOUBLE_EQ(it[10]->f, 1.5);
  EXPECT_EQ(it[11]->s, "h\xc3\xa9");
  EXPECT_EQ(it[12]->s, "abc");
  EXPECT_EQ(it[13]->s, "xy");
  EXPECT_TRUE(it[14]->is(Kind::Bytes));
  EXPECT_EQ(it[14]->s, std::string("\x00\x01\xff", 3));
  EXPECT_EQ(it[15]->s, "z");
  EXPECT_EQ(it[16]->s, "w");
  EXPECT_EQ(it[17]->s, "st");
  EXPECT_EQ(it[18]->s, "u");  // SHORT_BINSTRING
}

TEST(Unpickler, ContainerOpcodes) {
  std::string s = P2 + "(" +
                  "]" + binint1(1) + "a" + "(" + binint1(2) + binint1(3) + "e" +   // [1, 2, 3]
                  "(" + binint1(4) + binint1(5) + "l" +                             // [4, 5]
                  "}" + short_unicode("a") + binint1(1) + "s" + "(" + short_unicode("b") + binint1(2) +
                  short_unicode("c") + binint1(3) + "u" +                          // {a:1,b:2,c:3}
                  "(" + short_unicode("k") + "N" + "d" +                            // {k: None}
                  ")" + binint1(1) + op(0x85) + binint1(1) + binint1(2) + op(0x86) + binint1(1) + binint1(2) +
                  binint1(3) + op(0x87) + op(0x8f) + "(" + binint1(9) + binint1(8) + op(0x90) + "(" + binint1(6) +
                  op(0x91) + "t.";
  auto v = load(s);
  const auto& it = v->items;
  ASSERT_EQ(it.size(), 10u);
  ASSERT_TRUE(it[0]->is(Kind::List));
  ASSERT_EQ(it[0]->items.size(), 3u);
  EXPECT_EQ(it[0]->items[2]->i, 3);
  ASSERT_EQ(it[1]->items.size(), 2u);
  EXPECT_EQ(it[1]->items[1]->i, 5);
  ASSERT_TRUE(it[2]->is(Kind::Dict));
  ASSERT_EQ(it[2]->entries.size(), 3u);
  EXPECT_EQ(it[2]->entries[0].first->s, "a");  // insertion order kept
  EXPECT_EQ((*it[2]->get("c"))->i, 3);
  EXPECT_TRUE((*it[3]->get("k"))->is_none());
  EXPECT_TRUE(it[4]->is(Kind::Tuple) && it[4]->items.empty());
  EXPECT_EQ(it[5]->items.size(), 1u);
  EXPECT_EQ(it[6]->items.size(), 2u);
  EXPECT_EQ(it[7]->items.size(), 3u);
  EXPECT_EQ(it[7]->items[2]->i, 3);
  ASSERT_TRUE(it[8]->is(Kind::Set));
  EXPECT_EQ(it[8]->items.size(), 2u);
  ASSERT_TRUE(it[9]->is(Kind::Set));  // FROZENSET
  EXPECT_EQ(it[9]->items.size(), 1u);
}

TEST(Unpickler, FrozenSetAndDuplicateDictKeys) {
  auto v = load(P2 + "(" + binint1(1) + binint1(2) + op(0x91) + "." );
  EXPECT_TRUE(v->is(Kind::Set));
  EXPECT_EQ(v->items.size(), 2u);
  // A later SETITEM with the same key replaces the value, as in Python.
  auto d = load(P2 + "}" + short_unicode("a") + binint1(1) + "s" + short_unicode("a") + binint1(2) + "s.");
  ASSERT_EQ(d->entries.size(), 1u);
  EXPECT_EQ(d->entries[0].second->i, 2);
}

TEST(Unpickler, MemoOpcodesShareObjects) {
  // l = []; memo 0 = l (BINPUT), memo 300 = l (LONG_BINPUT), MEMOIZE -> memo 1 (size before), then
  // (l, l via BINGET, l via LONG_BINGET) and append through the first reference.
  std::string s = P2 + "]" + "q" + op(0) + "r" + le(300, 4) + "0" +  // store, pop
                  "h" + op(0) + "j" + le(300, 4) + "h" + op(0) + binint1(42) + "a" + op(0x87) + ".";
  auto v = load(s);
  ASSERT_EQ(v->items.size(), 3u);
  EXPECT_EQ(v->items[0].get(), v->items[1].get());
  EXPECT_EQ(v->items[0].get(), v->items[2].get());
  EXPECT_EQ(v->items[0]->items.size(), 1u);  // APPEND through one alias is seen through all
  auto m = load(P2 + short_unicode("x") + op(0x94) + "0" + "h" + op(0) + ".");
  EXPECT_EQ(m->s, "x");
  EXPECT_THROW(load(P2 + "h" + op(5) + "."), ModelError);  // never stored
}

TEST(Unpickler, Protocol0TextOpcodes) {
  std::string s = "(I00\nI01\nI-12\nL123456789012L\nF2.25\nS'a\\nb'\nVcaf\\u00e9\np7\n0g7\n2" "1" "I3\n.";
  // MARK, then values; POP_MARK ('1') discards everything back to the MARK; the result is 3.
  auto v = load(s);
  EXPECT_EQ(v->i, 3);
  auto t = load("(I00\nI01\nI-12\nL123456789012L\nF2.25\nS'a\\nb'\nVcaf\\u00e9\np7\n0g7\n2t.");
  ASSERT_EQ(t->items.size(), 8u);
  EXPECT_FALSE(t->items[0]->b);
  EXPECT_TRUE(t->items[1]->b);
  EXPECT_EQ(t->items[2]->i, -12);
  EXPECT_EQ(t->items[3]->i, 123456789012LL);
  EXPECT_DOUBLE_EQ(t->items[4]->f, 2.25);
  EXPECT_EQ(t->items[5]->s, "a\nb");
  EXPECT_EQ(t->items[6]->s, "caf\xc3\xa9");
  EXPECT_EQ(t->items[6].get(), t->items[7].get());  // GET then DUP
}

TEST(Unpickler, Protocol4FrameAndStackGlobal) {
  std::string body = short_unicode("collections") + op(0x94) + short_unicode("OrderedDict") + op(0x94) + op(0x93) +
                     op(0x94) + ")" + "R" + short_unicode("w") + binint1(1) + "s.";
  std::string s = op(0x80) + op(4) + op(0x95) + le(body.size(), 8) + body;
  auto v = load(s);
  ASSERT_TRUE(v->is(Kind::Dict));
  EXPECT_EQ((*v->get("w"))->i, 1);
}

TEST(Unpickler, AllowedGlobalsAreInterpretedNotExecuted) {
  // OrderedDict REDUCE + SETITEMS, set REDUCE, bytes via _codecs.encode, torch.Size, a module via
  // NEWOBJ + BUILD with the class fetched back from the memo.
  std::string s =
      P2 + "(" + "ccollections\nOrderedDict\n" + "q" + op(1) + ")" + "R" + "(" + short_unicode("x") + binint1(1) +
      short_unicode("y") + binint1(2) + "u" +
      "c__builtin__\nset\n" + "]" + "(" + binint1(5) + binint1(6) + "e" + op(0x85) + "R" +
      "c_codecs\nencode\n" + short_unicode("\xc3\xa9\x01") + short_unicode("latin1") + op(0x86) + "R" +
      "ctorch\nSize\n" + "(" + binint1(2) + binint1(3) + "t" + op(0x85) + "R" +
      "cultralytics.nn.modules.conv\nConv\n" + "q" + op(2) + ")" + op(0x81) + "}" + short_unicode("training") +
      op(0x89) + "s" + "b" +
      "h" + op(2) + ")" + op(0x81) +  // second Conv from the memoized class
      "h" + op(1) + ")" + "R" +       // second OrderedDict from the memoized class
      "t.";
  auto v = load(s);
  const auto& it = v->items;
  ASSERT_EQ(it.size(), 7u);
  ASSERT_TRUE(it[0]->is(Kind::Dict));
  EXPECT_EQ(it[0]->entries.size(), 2u);
  EXPECT_EQ((*it[0]->get("y"))->i, 2);
  ASSERT_TRUE(it[1]->is(Kind::Set));
  EXPECT_EQ(it[1]->items.size(), 2u);
  ASSERT_TRUE(it[2]->is(Kind::Bytes));
  EXPECT_EQ(it[2]->s, std::string("\xe9\x01", 2));
  ASSERT_TRUE(it[3]->is(Kind::Tuple));
  EXPECT_EQ(it[3]->items[1]->i, 3);
  ASSERT_TRUE(it[4]->is(Kind::Object));
  EXPECT_EQ(it[4]->s, "ultralytics.nn.modules.conv.Conv");
  ASSERT_TRUE(it[4]->attr("training"));
  EXPECT_FALSE(it[4]->attr("training")->b);
  EXPECT_EQ(it[5]->s, "ultralytics.nn.modules.conv.Conv");
  EXPECT_FALSE(it[5]->state);  // not built
  EXPECT_TRUE(it[6]->is(Kind::Dict));
  EXPECT_NE(it[6].get(), it[0].get());
}

TEST(Unpickler, NumpyFloat64ScalarFromOptimizerLr) {
  // REDUCE(scalar, (dtype('f8', False, True) + BUILD state, bytes-of-0.0125)) as the trainer writes lr values.
  double lr = 0.0125;
  std::string raw(8, '\0');
  std::memcpy(raw.data(), &lr, 8);
  std::string latin;  // the protocol-2 bytes encoding: each byte as a code point, UTF-8 encoded
  for (unsigned char c : raw) {
    if (c < 0x80) latin.push_back(static_cast<char>(c));
    else { latin.push_back(static_cast<char>(0xc0 | (c >> 6))); latin.push_back(static_cast<char>(0x80 | (c & 0x3f))); }
  }
  std::string s = P2 + "cnumpy.core.multiarray\nscalar\n" + "cnumpy\ndtype\n" + short_unicode("f8") + op(0x89) +
                  op(0x88) + op(0x87) + "R" + "(" + binint1(3) + short_unicode("<") + "NNN" + "J" + le(uint32_t(-1), 4) +
                  "J" + le(uint32_t(-1), 4) + binint1(0) + "t" + "b" + "c_codecs\nencode\n" + binunicode(latin) +
                  short_unicode("latin1") + op(0x86) + "R" + op(0x86) + "R.";
  auto v = load(s);
  ASSERT_TRUE(v->is(Kind::Float));
  EXPECT_EQ(v->f, lr);
}

TEST(Unpickler, RefusesGlobalsOutsideTheAllowList) {
  auto expect_refused = [](const std::string& s, const std::string& name) {
    try {
      load(s);
      FAIL() << "accepted " << name;
    } catch (const ModelError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("unsupported pickle global '" + name + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("test.pkl"), std::string::npos) << m;
      EXPECT_NE(m.find("not a YOLO checkpoint"), std::string::npos) << m;
    }
  };
  expect_refused("cos\nsystem\n(S'echo pwned'\ntR.", "os.system");
  expect_refused(P2 + "c__builtin__\neval\n" + "(" + short_unicode("1") + "tR.", "__builtin__.eval");
  expect_refused(op(0x80) + op(4) + short_unicode("builtins") + short_unicode("getattr") + op(0x93) + ".", "builtins.getattr");
  expect_refused(P2 + "csubprocess\nPopen\n.", "subprocess.Popen");
  // Lower-case names inside allowed packages are functions, not module classes: refused too.
  expect_refused(P2 + "cultralytics.nn.tasks\ntorch_safe_load\n.", "ultralytics.nn.tasks.torch_safe_load");
  EXPECT_TRUE(pickle_global_allowed("torch.nn.modules.conv", "Conv2d"));
  EXPECT_TRUE(pickle_global_allowed("ultralytics.utils.loss", "v8DetectionLoss"));
  EXPECT_FALSE(pickle_global_allowed("torch", "load"));
}

TEST(Unpickler, TruncatedStreamsFailCleanly) {
  std::string s = P2 + "}" + "q" + op(0) + "(" + binunicode("key") + "]" + binint1(1) + "a" + short_unicode("v") +
                  "G" + binfloat(0.5) + "u.";
  ASSERT_NO_THROW(load(s));
  for (size_t n = 0; n < s.size(); ++n) {
    try {
      load(s.substr(0, n));
      FAIL() << "prefix of " << n << " bytes accepted";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("test.pkl"), std::string::npos);
    }
  }
}

TEST(Unpickler, MalformedStreamsFailCleanly) {
  EXPECT_THROW(load(P2 + "a."), ModelError);                          // APPEND on an empty stack
  EXPECT_THROW(load(P2 + binint1(1) + binint1(2) + "a."), ModelError);  // APPEND to an int
  EXPECT_THROW(load(P2 + "e."), ModelError);                          // APPENDS without MARK
  EXPECT_THROW(load(P2 + "(" + binint1(1) + "d."), ModelError);         // odd DICT
  EXPECT_THROW(load(P2 + "i__main__\nX\n."), ModelError);             // INST is refused
  EXPECT_THROW(load(P2 + op(0x82) + op(1) + "."), ModelError);         // EXT1 is refused
  EXPECT_THROW(load(op(0x80) + op(9) + "N."), ModelError);            // unknown protocol
  EXPECT_THROW(load(P2 + binint1(1) + ")" + "R."), ModelError);         // REDUCE on an int
  EXPECT_THROW(load(P2 + op(0x8a) + op(9) + std::string(9, '\1') + "."), ModelError);  // > 64-bit integer
  EXPECT_THROW(load(P2 + "Q."), ModelError);                          // BINPERSID without storage
}

TEST(Unpickler, PersistentStorageAndTensorRebuild) {
  // _rebuild_tensor_v2(storage, offset 1, size (2, 2), stride (1, 2), False, OrderedDict()) over a 1-D
  // storage [0..5]: a non-contiguous (transposed) view.
  PersistentLoad pl = [](const PValuePtr& pid) {
    EXPECT_TRUE(pid->is(Kind::Tuple));
    EXPECT_EQ(pid->items[0]->s, "storage");
    EXPECT_EQ(pid->items[1]->s, "torch.FloatStorage");
    auto v = std::make_shared<PValue>();
    v->kind = Kind::Storage;
    v->tensor = torch::arange(6, torch::kFloat);
    return v;
  };
  auto tensor_pickle = [](int offset, int stride0) {
    return P2 + "ctorch._utils\n_rebuild_tensor_v2\n" + "(" + "(" + short_unicode("storage") + "ctorch\nFloatStorage\n" +
           short_unicode("0") + short_unicode("cpu") + binint1(6) + "t" + "Q" + binint1(offset) + binint1(2) +
           binint1(2) + op(0x86) + binint1(stride0) + binint1(2) + op(0x86) + op(0x89) +
           "ccollections\nOrderedDict\n)R" + "t" + "R.";
  };
  auto v = load(tensor_pickle(1, 1), pl);
  ASSERT_TRUE(v->is(Kind::Tensor));
  auto expect = torch::tensor({{1.f, 3.f}, {2.f, 4.f}});
  EXPECT_TRUE(torch::equal(v->tensor, expect)) << v->tensor;
  // A view that reaches past the storage is rejected instead of reading out of bounds.
  EXPECT_THROW(load(tensor_pickle(3, 1), pl), ModelError);
  EXPECT_THROW(load(tensor_pickle(0, 4), pl), ModelError);
}

#include "peregrine/mpc/share.hpp"

#include "peregrine/core/bytes.hpp"

namespace peregrine::mpc {

void require_in_ring(std::span<const u64> v, u64 mask, const char* what) {
  u64 acc = 0;
  for (u64 x : v) acc |= x;
  require((acc & ~mask) == 0, ErrorCode::kInvalidArgument, what);
}

namespace {
void same_shape(const ArithShares& a, const ArithShares& b) {
  require(a.ring == b.ring && a.v.size() == b.v.size(), ErrorCode::kInvalidArgument,
          "share vectors differ in ring or length");
}
}  // namespace

ArithShares add(const ArithShares& a, const ArithShares& b) {
  same_shape(a, b);
  ArithShares r{a.ring, std::vector<u64>(a.v.size())};
  for (std::size_t i = 0; i < a.v.size(); ++i) r.v[i] = (a.v[i] + b.v[i]) & a.ring.mask;
  return r;
}

ArithShares sub(const ArithShares& a, const ArithShares& b) {
  same_shape(a, b);
  ArithShares r{a.ring, std::vector<u64>(a.v.size())};
  for (std::size_t i = 0; i < a.v.size(); ++i) r.v[i] = (a.v[i] - b.v[i]) & a.ring.mask;
  return r;
}

ArithShares mul_public(const ArithShares& a, u64 c) {
  ArithShares r{a.ring, std::vector<u64>(a.v.size())};
  for (std::size_t i = 0; i < a.v.size(); ++i) r.v[i] = (a.v[i] * c) & a.ring.mask;
  return r;
}

ArithShares add_public(const ArithShares& a, u64 c, Party me) {
  ArithShares r = a;
  if (me == Party::kServer)
    for (auto& x : r.v) x = (x + c) & a.ring.mask;
  return r;
}

std::pair<ArithShares, ArithShares> split(const Ring& ring, std::span<const u64> x, Prg& prg) {
  ArithShares s0{ring, std::vector<u64>(x.size())}, s1{ring, std::vector<u64>(x.size())};
  for (std::size_t i = 0; i < x.size(); ++i) {
    require(x[i] <= ring.mask, ErrorCode::kInvalidArgument, "value outside the ring");
    s1.v[i] = prg.next_u64() & ring.mask;
    s0.v[i] = (x[i] - s1.v[i]) & ring.mask;
  }
  return {std::move(s0), std::move(s1)};
}

std::vector<u64> reconstruct(const ArithShares& a, const ArithShares& b) { return add(a, b).v; }

void reveal_send(net::Channel& ch, const ArithShares& mine) {
  std::vector<std::uint8_t> buf;
  ByteWriter w(buf);
  w.packed(mine.v, mine.ring.bits);
  ch.send(buf.data(), buf.size());
  ch.flush();
}

std::vector<u64> reveal_receive(net::Channel& ch, const ArithShares& mine) {
  std::vector<std::uint8_t> buf(ByteReader::packed_size(mine.v.size(), mine.ring.bits));
  ch.recv(buf.data(), buf.size());
  ByteReader r(buf);
  std::vector<u64> theirs(mine.v.size());
  r.packed(theirs, mine.ring.bits);  // throws on non-canonical padding
  for (std::size_t i = 0; i < theirs.size(); ++i) theirs[i] = (theirs[i] + mine.v[i]) & mine.ring.mask;
  return theirs;
}

std::vector<u64> reveal_both(net::Channel& ch, const ArithShares& mine) {
  reveal_send(ch, mine);
  return reveal_receive(ch, mine);
}

}  // namespace peregrine::mpc

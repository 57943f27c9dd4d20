// The per-connection context of the secret-sharing protocols: the channel, this party's role, its
// PRG, and OT in both directions (IKNP, ot/iknp.hpp + ot/derived.hpp).
#pragma once
#include <memory>

#include "peregrine/core/prg.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/derived.hpp"
#include "peregrine/ot/iknp.hpp"
#include "peregrine/ot/kkot.hpp"

namespace peregrine::mpc {

/// Everything both parties need to run the protocols of nonlinear.hpp: a channel, the party's role,
/// a PRG for its secrets, and IKNP OT both ways.
///
/// Construction is interactive: both parties construct their session at the same time (party 0 =
/// Party::kServer is the first party of setup_iknp). It runs 2×128 base OTs (three message flows),
/// then seeds a KK13 1-out-of-N extension each way (ot/kkot.hpp) from 2×256 IKNP random OTs.
/// Afterwards `ot_sender()` pairs with the peer's `ot_receiver()` and vice versa; calls on a pair
/// must match in flavour, size and order (ot/derived.hpp).
///
/// Thread-safety: not thread-safe (one thread per session); keeps references to `ch` and `prg`,
/// which must outlive it. Errors: those of setup_iknp / the channel (kPeerClosed, kTimeout,
/// kUnsupported without AES-NI).
class MpcSession {
 public:
  MpcSession(net::Channel& ch, Party me, Prg& prg);
  MpcSession(const MpcSession&) = delete;
  MpcSession& operator=(const MpcSession&) = delete;

  net::Channel& channel() noexcept { return ch_; }
  Party party() const noexcept { return me_; }
  bool is_server() const noexcept { return me_ == Party::kServer; }
  Prg& prg() noexcept { return prg_; }
  /// This party as OT sender (pairs with the peer's ot_receiver()).
  ot::OtSender& ot_sender() noexcept { return *snd_; }
  /// This party as OT receiver (pairs with the peer's ot_sender()).
  ot::OtReceiver& ot_receiver() noexcept { return *rcv_; }

  /// 1-out-of-2^m OT on l-bit messages, this party as sender (ot::KkotSender::send; the peer
  /// calls recv_1_of_n). KK13 on the IKNP back-end: 256 + 2^m·l bits per OT.
  void send_1_of_n(std::span<const u64> msgs, int m, int l) { kks_->send(msgs, m, l); }
  /// Receiver side of send_1_of_n.
  void recv_1_of_n(std::span<const std::uint8_t> choices, std::span<u64> out, int m, int l) {
    kkr_->recv(choices, out, m, l);
  }

  /// Runs one OT stage in both directions without deadlock: the server runs `as_sender` then
  /// `as_receiver`, the client the reverse, so that the k-th sender call of one party meets the
  /// k-th receiver call of the other.
  template <class FS, class FR>
  void both_ways(FS&& as_sender, FR&& as_receiver) {
    if (is_server()) {
      as_sender(*snd_);
      as_receiver(*rcv_);
    } else {
      as_receiver(*rcv_);
      as_sender(*snd_);
    }
  }

 private:
  net::Channel& ch_;
  Party me_;
  Prg& prg_;
  ot::OtPair pair_;
  std::unique_ptr<ot::OtSender> snd_;
  std::unique_ptr<ot::OtReceiver> rcv_;
  std::unique_ptr<ot::KkotSender> kks_;
  std::unique_ptr<ot::KkotReceiver> kkr_;
};

}  // namespace peregrine::mpc

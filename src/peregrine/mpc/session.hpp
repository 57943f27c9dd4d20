// The per-connection context of the secret-sharing protocols: the channel, this party's role, its
// PRG, and OT in both directions (silent Ferret COT by default, IKNP by option; ot/ferret.hpp,
// ot/iknp.hpp + ot/derived.hpp).
#pragma once
#include <memory>
#include <optional>
#include <string_view>

#include "peregrine/core/prg.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/derived.hpp"
#include "peregrine/ot/ferret.hpp"
#include "peregrine/ot/iknp.hpp"
#include "peregrine/ot/kkot.hpp"

namespace peregrine::mpc {

/// The correlated-OT source of a session. Both parties must use the same (the engine's hello
/// checks it).
enum class OtBackend : std::uint8_t {
  kSilent = 1,  ///< Ferret silent COT bootstrapped from IKNP (ot/ferret.hpp): ~0.39 bit per COT
  kIknp = 2,    ///< IKNP (128 bits per COT) with KK13 1-out-of-N leaves: CrypTFlow2's set-up
};
/// "silent" / "iknp".
const char* ot_backend_name(OtBackend b) noexcept;
/// Parses "silent" (also "ferret") or "iknp"; nullopt otherwise.
std::optional<OtBackend> parse_ot_backend(std::string_view s) noexcept;

/// Everything both parties need to run the protocols of nonlinear.hpp: a channel, the party's role,
/// a PRG for its secrets, and correlated OT both ways.
///
/// Construction is interactive: both parties construct their session at the same time (party 0 =
/// Party::kServer is the first party of setup_iknp). It runs 2×128 base OTs (three message flows)
/// and IKNP both ways; then, with OtBackend::kSilent (the default), a Ferret instance each way
/// bootstrapped from 25 784 IKNP COTs (about 0.4 MB per direction, one set-up LPN iteration and the
/// first main reserve); with OtBackend::kIknp, a KK13 1-out-of-N extension each way (ot/kkot.hpp)
/// seeded from 2×256 IKNP random OTs. Every protocol runs unchanged on either back-end.
/// Afterwards `ot_sender()` pairs with the peer's `ot_receiver()` and vice versa; calls on a pair
/// must match in flavour, size and order (ot/derived.hpp).
///
/// `workers` (may be null; must outlive the session): the party's worker threads, used by the
/// Ferret refills after set-up (tree expansion, LPN rows) where the machine has at least 2T
/// hardware threads (both parties refill at once; oversubscribed, the parallel refill is slower),
/// and available to the protocols; results and messages are the same for every thread count.
/// Thread-safety: not thread-safe (one thread per session); keeps references to `ch` and `prg`,
/// which must outlive it. Errors: those of setup_iknp / the channel (kPeerClosed, kTimeout,
/// kUnsupported without AES-NI).
class MpcSession {
 public:
  MpcSession(net::Channel& ch, Party me, Prg& prg, OtBackend ot = OtBackend::kSilent,
             core::Workers* workers = nullptr);
  MpcSession(const MpcSession&) = delete;
  MpcSession& operator=(const MpcSession&) = delete;

  net::Channel& channel() noexcept { return ch_; }
  Party party() const noexcept { return me_; }
  bool is_server() const noexcept { return me_ == Party::kServer; }
  OtBackend ot_backend() const noexcept { return backend_; }
  Prg& prg() noexcept { return prg_; }
  /// The party's worker threads (null: the session's thread only).
  core::Workers* workers() const noexcept { return workers_; }
  /// This party as OT sender (pairs with the peer's ot_receiver()).
  ot::OtSender& ot_sender() noexcept { return *snd_; }
  /// This party as OT receiver (pairs with the peer's ot_sender()).
  ot::OtReceiver& ot_receiver() noexcept { return *rcv_; }

  /// 1-out-of-2^m OT on l-bit messages, this party as sender (the peer calls recv_1_of_n).
  /// Silent back-end: m chosen-bit COTs + 2^m·l bits per OT (ot::OtSender::send_1_of_n, m bits of
  /// derandomisation); IKNP back-end: KK13 (ot::KkotSender::send), 256 + 2^m·l bits per OT.
  void send_1_of_n(std::span<const u64> msgs, int m, int l) {
    if (kks_) kks_->send(msgs, m, l);
    else snd_->send_1_of_n(msgs, m, l);
  }
  /// Receiver side of send_1_of_n.
  void recv_1_of_n(std::span<const std::uint8_t> choices, std::span<u64> out, int m, int l) {
    if (kkr_) kkr_->recv(choices, out, m, l);
    else rcv_->recv_1_of_n(choices, out, m, l);
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
  OtBackend backend_;
  ot::OtPair pair_;
  core::Workers* workers_ = nullptr;
  std::unique_ptr<ot::FerretCotSender> silent_snd_;
  std::unique_ptr<ot::FerretCotReceiver> silent_rcv_;
  std::unique_ptr<ot::OtSender> snd_;
  std::unique_ptr<ot::OtReceiver> rcv_;
  std::unique_ptr<ot::KkotSender> kks_;
  std::unique_ptr<ot::KkotReceiver> kkr_;
};

}  // namespace peregrine::mpc

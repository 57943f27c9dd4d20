#include "peregrine/mpc/session.hpp"

#include <thread>

namespace peregrine::mpc {

const char* ot_backend_name(OtBackend b) noexcept { return b == OtBackend::kIknp ? "iknp" : "silent"; }

std::optional<OtBackend> parse_ot_backend(std::string_view s) noexcept {
  if (s == "silent" || s == "ferret") return OtBackend::kSilent;
  if (s == "iknp") return OtBackend::kIknp;
  return std::nullopt;
}

MpcSession::MpcSession(net::Channel& ch, Party me, Prg& prg, OtBackend ot, core::Workers* workers)
    : ch_(ch), me_(me), prg_(prg), backend_(ot), pair_(ot::setup_iknp(ch, me == Party::kServer, prg)),
      workers_(workers) {
  if (ot == OtBackend::kSilent) {
    auto make_sender = [&] { silent_snd_ = std::make_unique<ot::FerretCotSender>(ch_, *pair_.sender, prg_); };
    auto make_receiver = [&] { silent_rcv_ = std::make_unique<ot::FerretCotReceiver>(ch_, *pair_.receiver, prg_); };
    if (is_server()) {
      make_sender();
      make_receiver();
    } else {
      make_receiver();
      make_sender();
    }
    // Both parties refill Ferret at the same time: the parallel refill pays only where the
    // machine has cores for both parties' workers (on 2 cores with T = 2 per party it made
    // ResNet-18 at 224 16.3 → 18.2 s; docs/BENCHMARKS.md).
    if (workers_ != nullptr && std::thread::hardware_concurrency() >= 2 * workers_->size()) {
      silent_snd_->set_workers(workers_);
      silent_rcv_->set_workers(workers_);
    }
    snd_ = std::make_unique<ot::OtSender>(*silent_snd_, ch_, /*domain=*/1);
    rcv_ = std::make_unique<ot::OtReceiver>(*silent_rcv_, ch_, prg_, /*domain=*/1);
    return;
  }
  snd_ = std::make_unique<ot::OtSender>(*pair_.sender, ch_, /*domain=*/1);
  rcv_ = std::make_unique<ot::OtReceiver>(*pair_.receiver, ch_, prg_, /*domain=*/1);
  both_ways([&](ot::OtSender& snd) { kkr_ = ot::KkotReceiver::from_rot(snd, ch_, /*domain=*/2); },
            [&](ot::OtReceiver& rcv) { kks_ = ot::KkotSender::from_rot(rcv, ch_, /*domain=*/2); });
}

}  // namespace peregrine::mpc

#include "peregrine/mpc/session.hpp"

namespace peregrine::mpc {

MpcSession::MpcSession(net::Channel& ch, Party me, Prg& prg)
    : ch_(ch), me_(me), prg_(prg), pair_(ot::setup_iknp(ch, me == Party::kServer, prg)) {
  snd_ = std::make_unique<ot::OtSender>(*pair_.sender, ch_, /*domain=*/1);
  rcv_ = std::make_unique<ot::OtReceiver>(*pair_.receiver, ch_, prg_, /*domain=*/1);
  both_ways([&](ot::OtSender& snd) { kkr_ = ot::KkotReceiver::from_rot(snd, ch_, /*domain=*/2); },
            [&](ot::OtReceiver& rcv) { kks_ = ot::KkotSender::from_rot(rcv, ch_, /*domain=*/2); });
}

}  // namespace peregrine::mpc

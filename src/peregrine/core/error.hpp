// Typed errors thrown at Peregrine's library boundaries (DESIGN.md §7).
#pragma once
#include <stdexcept>
#include <string>

namespace peregrine {

/// What went wrong, coarse enough for a caller to decide what to do next.
enum class ErrorCode {
  kInvalidArgument,   ///< a caller passed something outside the documented domain
  kParamsMismatch,    ///< objects made under different HE parameter sets were combined
  kInsecureParameters,///< parameters outside the HE-standard 128-bit table without the opt-in
  kMalformedInput,    ///< bytes from a peer or a file failed validation (length, range, version)
  kSizeLimit,         ///< a declared size exceeds the caller's bound
  kCrypto,            ///< an OS or OpenSSL/libsodium primitive failed
  kUnsupported,       ///< a valid request the build or CPU cannot serve
  kPeerClosed,        ///< the peer closed the connection or vanished
  kTimeout,           ///< connect or read did not complete within its timeout
  kProtocol,          ///< the peer sent something the protocol does not allow
};

/// Returns a stable lower-case name for `code` ("malformed_input", ...).
const char* error_code_name(ErrorCode code) noexcept;

/// Base of every exception Peregrine throws on purpose. Thread-safe (immutable).
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what)
      : std::runtime_error(std::string(error_code_name(code)) + ": " + what), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

/// Throws Error(code, what) when `cond` is false. For validation at API boundaries only; hot loops
/// carry no checks.
inline void require(bool cond, ErrorCode code, const char* what) {
  if (!cond) throw Error(code, what);
}

inline const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kParamsMismatch: return "params_mismatch";
    case ErrorCode::kInsecureParameters: return "insecure_parameters";
    case ErrorCode::kMalformedInput: return "malformed_input";
    case ErrorCode::kSizeLimit: return "size_limit";
    case ErrorCode::kCrypto: return "crypto";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kPeerClosed: return "peer_closed";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kProtocol: return "protocol";
  }
  return "unknown";
}

}  // namespace peregrine

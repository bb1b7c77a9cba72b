// ReloadableServerCredentials: TLS on the gRPC port whose certificate, key and
// client CA are re-read on demand (SIGHUP in main.cc) without restarting the
// server: new handshakes get the new files, open connections and their
// streams keep the ones they were made with.
//
// gRPC 1.51's C++ API has no reloadable server credentials (its file watcher
// provider polls, about a second late, and is experimental), but its core SSL
// credentials take a certificate-config fetcher that gRPC calls on every
// incoming handshake. Reload() validates the files (the chain parses, the key
// belongs to the leaf certificate, the client CA bundle holds a certificate)
// and installs them only then; bad files are refused and the current ones stay.
//
// Thread-safety: Reload() from any thread; the fetcher runs on gRPC's threads.
// The object must outlive the grpc::Server that uses Credentials().
#pragma once

#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace b24::tls {

struct TlsFiles {
  std::string cert_file;       // PEM chain: the leaf first, then intermediates
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // "" = no client certificates (no mTLS)
};

struct TlsMaterial {
  std::string cert_chain, private_key, client_ca;
};

// Reads the files and checks that they can serve. INVALID_ARGUMENT naming
// the file and what is wrong with it; NOT_FOUND when one cannot be read.
absl::StatusOr<TlsMaterial> LoadAndValidate(const TlsFiles& files);

class ReloadableServerCredentials {
 public:
  static absl::StatusOr<std::unique_ptr<ReloadableServerCredentials>> Create(TlsFiles files);
  // Re-reads the files; the next handshake uses them when they validate,
  // otherwise the current ones stay and the error says why. Unchanged files
  // are a no-op.
  absl::Status Reload();
  // For one AddListeningPort. Clients must present a certificate signed by
  // client_ca_file when it is set (fixed for the life of the server).
  std::shared_ptr<grpc::ServerCredentials> Credentials();
  // How many times the material changed (1 after Create).
  uint64_t generation() const;

 private:
  explicit ReloadableServerCredentials(TlsFiles files) : files_(std::move(files)) {}
  static grpc_ssl_certificate_config_reload_status Fetch(void* self, grpc_ssl_server_certificate_config** config);

  const TlsFiles files_;
  mutable absl::Mutex mu_;
  TlsMaterial material_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace b24::tls

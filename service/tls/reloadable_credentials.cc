#include "service/tls/reloadable_credentials.h"

#include <grpc/grpc.h>
#include <grpcpp/version_info.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace b24::tls {

namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not PEM";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// The number of PEM certificates in `pem`; the first one in `*first`.
int CountCertificates(const std::string& pem, std::unique_ptr<X509, X509Deleter>* first) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int n = 0;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, X509Deleter> cert(x);
    if (n++ == 0 && first != nullptr) *first = std::move(cert);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  return n;
}

// gRPC 1.51's grpc::ServerCredentials has no public way to wrap core
// credentials; its only port hook is the private virtual AddPortToServer,
// which a derived class may override. Newer releases add a protected
// ServerCredentials(grpc_server_credentials*) constructor for this: the
// assertion makes an upgrade look here.
static_assert(GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR == 51,
              "CoreServerCredentials overrides the private grpc::ServerCredentials::AddPortToServer of gRPC 1.51; "
              "newer releases have a protected ServerCredentials(grpc_server_credentials*) constructor: use it");
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* c) : c_(c) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(c_); }
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), c_);
  }
  grpc_server_credentials* c_;
};

}  // namespace

absl::StatusOr<TlsMaterial> LoadAndValidate(const TlsFiles& f) {
  TlsMaterial m;
  absl::StatusOr<std::string> cert = ReadWholeFile(f.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadWholeFile(f.key_file);
  if (!key.ok()) return key.status();
  m.cert_chain = *std::move(cert);
  m.private_key = *std::move(key);
  if (!f.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadWholeFile(f.client_ca_file);
    if (!ca.ok()) return ca.status();
    m.client_ca = *std::move(ca);
  }
  ERR_clear_error();
  std::unique_ptr<X509, X509Deleter> leaf;
  if (CountCertificates(m.cert_chain, &leaf) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.cert_file, " (tls.cert_file) holds no PEM certificate"));
  }
  std::unique_ptr<BIO, BioDeleter> kbio(BIO_new_mem_buf(m.private_key.data(), static_cast<int>(m.private_key.size())));
  std::unique_ptr<EVP_PKEY, KeyDeleter> pkey(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  if (!pkey) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.key_file, " (tls.key_file) holds no PEM private key (", OpenSslError(), ")"));
  }
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(f.key_file, " (tls.key_file) is not the key of the certificate in ",
                                                   f.cert_file, " (tls.cert_file)"));
  }
  if (!f.client_ca_file.empty() && CountCertificates(m.client_ca, nullptr) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.client_ca_file, " (tls.client_ca_file) holds no PEM certificate"));
  }
  return m;
}

absl::StatusOr<std::unique_ptr<ReloadableServerCredentials>> ReloadableServerCredentials::Create(TlsFiles files) {
  absl::StatusOr<TlsMaterial> m = LoadAndValidate(files);
  if (!m.ok()) return m.status();
  std::unique_ptr<ReloadableServerCredentials> r(new ReloadableServerCredentials(std::move(files)));
  absl::MutexLock lock(&r->mu_);
  r->material_ = *std::move(m);
  return r;
}

absl::Status ReloadableServerCredentials::Reload() {
  absl::StatusOr<TlsMaterial> m = LoadAndValidate(files_);
  if (!m.ok()) return m.status();
  absl::MutexLock lock(&mu_);
  if (m->cert_chain == material_.cert_chain && m->private_key == material_.private_key &&
      m->client_ca == material_.client_ca) {
    return absl::OkStatus();
  }
  material_ = *std::move(m);
  ++generation_;
  return absl::OkStatus();
}

uint64_t ReloadableServerCredentials::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::shared_ptr<grpc::ServerCredentials> ReloadableServerCredentials::Credentials() {
  grpc_ssl_client_certificate_request_type request = files_.client_ca_file.empty()
                                                         ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                         : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(request, &Fetch, this);
  return std::make_shared<CoreServerCredentials>(grpc_ssl_server_credentials_create_with_options(options));
}

// Called by gRPC when the port is added and then on every incoming
// connection, under the security connector's lock: a compare when nothing changed.
grpc_ssl_certificate_config_reload_status ReloadableServerCredentials::Fetch(
    void* arg, grpc_ssl_server_certificate_config** config) {
  auto* self = static_cast<ReloadableServerCredentials*>(arg);
  absl::MutexLock lock(&self->mu_);
  if (self->delivered_ == self->generation_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  grpc_ssl_pem_key_cert_pair pair{self->material_.private_key.c_str(), self->material_.cert_chain.c_str()};
  // gRPC 1.51 asserts pem_root_certs != nullptr; without mTLS no client
  // certificate is requested, so the server's own chain serves as a placeholder.
  const std::string& roots = self->material_.client_ca.empty() ? self->material_.cert_chain : self->material_.client_ca;
  *config = grpc_ssl_server_certificate_config_create(roots.c_str(), &pair, 1);  // copies; gRPC frees it
  self->delivered_ = self->generation_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

}  // namespace b24::tls

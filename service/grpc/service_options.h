// ServiceOptions: the settings of the gRPC service, apart from the gRPC
// headers so the configuration can embed them cheaply.
#pragma once

#include <cstddef>

namespace b24::grpcapi {

struct ServiceOptions {
  // Largest message sent to a caller (and accepted from one): gRPC's default
  // receive limit, which most clients keep. Results that would not fit are
  // RESOURCE_EXHAUSTED RESULT_TOO_LARGE before they are built.
  size_t max_message_bytes = 4u << 20;
};

}  // namespace b24::grpcapi

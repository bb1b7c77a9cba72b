#include "service/exec/operating_budget.h"

namespace b24::exec {

const OperatingBudget::Method* OperatingBudget::Find(const std::string& method) const {
  auto it = methods_.find(method);
  return it == methods_.end() ? nullptr : &it->second;
}

absl::Time OperatingBudget::ReadyAt(const std::string& method) const {
  const Method* m = Find(method);
  return m ? m->blocked_until : absl::InfinitePast();
}

bool OperatingBudget::ProbeBusy(const std::string& method) const {
  const Method* m = Find(method);
  return m && m->probing && m->in_flight > 0;
}

void OperatingBudget::OnSent(const std::string& method) { methods_[method].in_flight++; }

void OperatingBudget::OnDone(const std::string& method) { methods_[method].in_flight--; }

void OperatingBudget::Record(const OperatingSample& s, absl::Time now) {
  Method& m = methods_[s.method];
  m.operating = s.operating;
  m.reset_at = s.reset_at;
  m.probing = false;
  if (s.cost > 0) m.avg_cost = m.avg_cost == 0 ? s.cost : (1 - kCostWeight) * m.avg_cost + kCostWeight * s.cost;
  // The portal refuses a call only when operating is already above the
  // limit; keep room for the calls of this method still in flight.
  if (m.operating + m.avg_cost * m.in_flight > limit_) {
    m.blocked_until = s.reset_at > 0 ? absl::FromUnixSeconds(s.reset_at) + kResetSlack : now + kFallbackBlock;
    m.probing = true;
  }
}

void OperatingBudget::OnOperatingLimit(const std::string& method, absl::Time now) {
  Method& m = methods_[method];
  absl::Time reset = m.reset_at > 0 ? absl::FromUnixSeconds(m.reset_at) + kResetSlack : absl::InfinitePast();
  m.blocked_until = reset > now ? reset : now + kFallbackBlock;
  m.probing = true;
}

}  // namespace b24::exec

#include "tally/auth.h"

namespace tally {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kWriter: return "writer";
    case Role::kAuditor: return "auditor";
    case Role::kAdmin: return "admin";
  }
  return "unknown_role";
}

std::optional<Role> RoleFromName(std::string_view name) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAuditor, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

bool ReachesChain(const TokenInfo& token, std::uint32_t chain) { return token.chain == 0 || token.chain == chain; }

bool MayApply(const TokenInfo& token, const Command& command) {
  if (!ReachesChain(token, command.chain)) return false;
  if (token.role == Role::kAdmin) return true;
  return token.role == Role::kWriter && command.kind != CommandKind::kProgram;
}

bool MayQuery(const TokenInfo& token, std::uint32_t chain) { return ReachesChain(token, chain); }

bool MayBackup(const TokenInfo& token) { return token.role == Role::kAdmin && token.chain == 0; }

bool MayManageTokens(const TokenInfo& token, std::uint32_t chain) {
  return token.role == Role::kAdmin && (token.chain == 0 || token.chain == chain);
}

}  // namespace tally

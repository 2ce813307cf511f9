// Who may do what: the roles of a token and the checks a server makes
// before a request reaches the ledger (docs/security.md).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/types.h"

namespace tally {

enum class Role : std::uint8_t {
  kReader = 1,   // queries of its chain
  kWriter = 2,   // commands (but program) and queries of its chain: the e-commerce backend
  kAuditor = 3,  // queries of its chain and the chain head; no commands
  kAdmin = 4,    // everything in its chain, programs and backups included
};

std::string_view RoleName(Role role);
std::optional<Role> RoleFromName(std::string_view name);

struct TokenInfo {
  std::string name;              // unique; 1..64 characters
  Role role = Role::kReader;
  std::uint32_t chain = 0;       // 0: every chain
  std::uint64_t created_us = 0;
  std::uint64_t revoked_us = 0;  // 0: active
};

// The checks. A chain of 0 in a token reaches every chain.
bool ReachesChain(const TokenInfo& token, std::uint32_t chain);
bool MayApply(const TokenInfo& token, const Command& command);
bool MayQuery(const TokenInfo& token, std::uint32_t chain);
bool MayBackup(const TokenInfo& token);
// Creating, listing or revoking tokens of `chain` (0: tokens of every
// chain): an admin of that chain, or of every chain.
bool MayManageTokens(const TokenInfo& token, std::uint32_t chain);

}  // namespace tally

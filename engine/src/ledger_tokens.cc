// Tokens: created, revoked, listed and checked. The data directory holds
// them; the ledger keeps a copy in memory, so that a hello never reads the
// disk (nor fails because the disk does).
// docs/security.md says what they are for.
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

#include "ledger_impl.h"
#include "tally/limits.h"
#include "tally/internal/encoding.h"

namespace tally {
namespace {

constexpr std::uint8_t kTokenFormat = 1;
constexpr std::size_t kTokenNameMax = 64;
constexpr std::string_view kSecretPrefix = "tly_";

std::string HashOfSecret(std::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string EncodeToken(const TokenInfo& token) {
  std::string record;
  record.push_back(static_cast<char>(kTokenFormat));
  record.push_back(static_cast<char>(token.role));
  internal::PutFixed32(&record, token.chain);
  internal::PutFixed64(&record, token.created_us);
  internal::PutFixed64(&record, token.revoked_us);
  record.push_back(static_cast<char>(token.name.size()));
  record.append(token.name);
  return record;
}

Result<TokenInfo> DecodeToken(std::string_view record) {
  internal::Reader reader(record);
  TokenInfo token;
  std::uint8_t format = 0, role = 0, name_size = 0;
  if (!reader.ReadFixed8(&format) || format != kTokenFormat || !reader.ReadFixed8(&role) ||
      !RoleFromName(RoleName(static_cast<Role>(role))) || !reader.ReadFixed32(&token.chain) ||
      !reader.ReadFixed64(&token.created_us) || !reader.ReadFixed64(&token.revoked_us) ||
      !reader.ReadFixed8(&name_size) || reader.remaining() != name_size) {
    return Status::Corruption("a token record is damaged");
  }
  token.role = static_cast<Role>(role);
  token.name = std::string(reader.rest());
  return token;
}

bool IsPrintable(std::string_view name) {
  if (name.empty() || name.size() > kTokenNameMax) return false;
  for (char c : name) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

Status Ledger::Impl::LoadTokens() {
  std::unique_lock lock(token_mutex);
  tokens.clear();
  return store->ForEachToken([&](std::string_view hash, std::string_view record) {
    Result<TokenInfo> token = DecodeToken(record);
    if (!token.ok()) return token.status();
    tokens.emplace(std::string(hash), std::move(*token));
    return Status::Ok();
  });
}

Result<std::string> Ledger::CreateToken(const std::string& name, Role role, std::uint32_t chain) {
  if (!IsPrintable(name)) return Status::InvalidArgument("a token name is 1 to 64 printable characters, no spaces");
  if (!RoleFromName(RoleName(role))) return Status::InvalidArgument("unknown role");
  std::unique_lock lock(impl_->state_mutex);  // one token change at a time, with the store open
  {
    std::shared_lock tokens_lock(impl_->token_mutex);
    for (const auto& [hash, token] : impl_->tokens) {
      if (token.name == name) return Status::InvalidArgument("a token named " + name + " exists already");
    }
    if (impl_->tokens.size() >= kTokensMax) {
      return Status::InvalidArgument("the ledger holds " + std::to_string(kTokensMax) + " tokens, its most");
    }
  }
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) return Status::IOError("no randomness for a token");
  std::string secret(kSecretPrefix);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char byte : random) {
    secret.push_back(kDigits[byte >> 4]);
    secret.push_back(kDigits[byte & 15]);
  }
  TokenInfo token{name, role, chain, impl_->options.clock_us(), 0};
  std::string hash = HashOfSecret(secret);
  Status status = impl_->store->PutToken(hash, EncodeToken(token));
  if (!status.ok()) return status;
  std::unique_lock tokens_lock(impl_->token_mutex);
  impl_->tokens.emplace(std::move(hash), std::move(token));
  return secret;
}

Status Ledger::RevokeToken(const std::string& name) {
  std::unique_lock lock(impl_->state_mutex);
  std::string hash;
  TokenInfo found;
  {
    std::shared_lock tokens_lock(impl_->token_mutex);
    for (const auto& [key, token] : impl_->tokens) {
      if (token.name == name) {
        hash = key;
        found = token;
      }
    }
  }
  if (hash.empty()) return Status::NotFound("no token named " + name);
  if (found.revoked_us != 0) return Status::Ok();  // revoking twice changes nothing
  found.revoked_us = std::max<std::uint64_t>(impl_->options.clock_us(), 1);
  Status status = impl_->store->PutToken(hash, EncodeToken(found));
  if (!status.ok()) return status;
  std::unique_lock tokens_lock(impl_->token_mutex);
  impl_->tokens[hash] = std::move(found);
  return Status::Ok();
}

Result<std::vector<TokenInfo>> Ledger::ListTokens() const {
  std::shared_lock lock(impl_->token_mutex);
  std::vector<TokenInfo> tokens;
  for (const auto& [hash, token] : impl_->tokens) tokens.push_back(token);
  std::sort(tokens.begin(), tokens.end(), [](const TokenInfo& a, const TokenInfo& b) { return a.name < b.name; });
  return tokens;
}

Result<std::optional<TokenInfo>> Ledger::Authenticate(std::string_view secret) const {
  // Looked up by the secret's SHA-256: how long it takes does not depend on
  // how close a guess is to a real secret.
  const std::string hash = HashOfSecret(secret);
  std::shared_lock lock(impl_->token_mutex);
  const auto found = impl_->tokens.find(hash);
  if (found == impl_->tokens.end() || found->second.revoked_us != 0) return std::optional<TokenInfo>();
  return std::optional<TokenInfo>(found->second);
}

Result<bool> Ledger::HasTokens() const {
  std::shared_lock lock(impl_->token_mutex);
  return std::any_of(impl_->tokens.begin(), impl_->tokens.end(),
                     [](const auto& entry) { return entry.second.revoked_us == 0; });
}

}  // namespace tally

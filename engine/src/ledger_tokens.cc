// Tokens: created, revoked, listed and checked against the data directory.
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

Result<std::string> Ledger::CreateToken(const std::string& name, Role role, std::uint32_t chain) {
  if (!IsPrintable(name)) return Status::InvalidArgument("a token name is 1 to 64 printable characters, no spaces");
  if (!RoleFromName(RoleName(role))) return Status::InvalidArgument("unknown role");
  std::unique_lock lock(impl_->state_mutex);  // one token change at a time
  std::size_t count = 0;
  Status status = impl_->store->ForEachToken([&](std::string_view, std::string_view record) {
    Result<TokenInfo> token = DecodeToken(record);
    if (!token.ok()) return token.status();
    if (token->name == name) return Status::InvalidArgument("a token named " + name + " exists already");
    ++count;
    return Status::Ok();
  });
  if (!status.ok()) return status;
  if (count >= kTokensMax) {
    return Status::InvalidArgument("the ledger holds " + std::to_string(kTokensMax) + " tokens, its most");
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
  status = impl_->store->PutToken(HashOfSecret(secret), EncodeToken(token));
  if (!status.ok()) return status;
  return secret;
}

Status Ledger::RevokeToken(const std::string& name) {
  std::unique_lock lock(impl_->state_mutex);
  std::string hash;
  TokenInfo found;
  Status status = impl_->store->ForEachToken([&](std::string_view key, std::string_view record) {
    Result<TokenInfo> token = DecodeToken(record);
    if (!token.ok()) return token.status();
    if (token->name == name) {
      hash = std::string(key);
      found = *token;
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  if (hash.empty()) return Status::NotFound("no token named " + name);
  if (found.revoked_us != 0) return Status::Ok();  // revoking twice changes nothing
  found.revoked_us = std::max<std::uint64_t>(impl_->options.clock_us(), 1);
  return impl_->store->PutToken(hash, EncodeToken(found));
}

Result<std::vector<TokenInfo>> Ledger::ListTokens() const {
  std::shared_lock lock(impl_->store_mutex);
  std::vector<TokenInfo> tokens;
  Status status = impl_->store->ForEachToken([&](std::string_view, std::string_view record) {
    Result<TokenInfo> token = DecodeToken(record);
    if (!token.ok()) return token.status();
    tokens.push_back(*token);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  std::sort(tokens.begin(), tokens.end(), [](const TokenInfo& a, const TokenInfo& b) { return a.name < b.name; });
  return tokens;
}

Result<std::optional<TokenInfo>> Ledger::Authenticate(std::string_view secret) const {
  // Looked up by the secret's SHA-256: how long it takes does not depend on
  // how close a guess is to a real secret.
  std::shared_lock lock(impl_->store_mutex);
  Result<std::optional<std::string>> record = impl_->store->GetToken(HashOfSecret(secret));
  if (!record.ok()) return record.status();
  if (!record->has_value()) return std::optional<TokenInfo>();
  Result<TokenInfo> token = DecodeToken(**record);
  if (!token.ok()) return token.status();
  if (token->revoked_us != 0) return std::optional<TokenInfo>();
  return std::optional<TokenInfo>(*token);
}

Result<bool> Ledger::HasTokens() const {
  std::shared_lock lock(impl_->store_mutex);
  bool active = false;
  Status status = impl_->store->ForEachToken([&](std::string_view, std::string_view record) {
    Result<TokenInfo> token = DecodeToken(record);
    if (!token.ok()) return token.status();
    active = active || token->revoked_us == 0;
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return active;
}

}  // namespace tally

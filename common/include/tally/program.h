// A chain's loyalty program: the configuration a `program` command writes
// into the log (docs/loyalty.md has the rules; docs/storage.md the bytes of
// its encoding, which is what the command carries).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

enum class ExpiryKind : std::uint8_t {
  kNone = 0,      // lots never expire
  kDays = 1,      // a lot expires `expiry_value` days after it was earned
  kMonthEnd = 2,  // at the end of the `expiry_value`th month after the month it was earned
};

enum class ReturnPolicy : std::uint8_t {
  kClawBack = 0,       // a return takes only what the purchase's lot still holds
  kAllowNegative = 1,  // the rest becomes debt, repaid by later arrivals
};

struct Tier {
  std::string name;                 // 1..15 printable ASCII characters
  std::int64_t threshold = 0;       // qualifying points; the first tier's is 0
  std::uint32_t multiplier_permille = 1000;  // 1000 = ×1; applies to a purchase's base points

  friend bool operator==(const Tier&, const Tier&) = default;
};

struct Campaign {
  std::uint64_t id = 0;             // non-zero, unique in the program
  std::uint64_t starts_at_us = 0;   // applies to purchases with starts_at <= ledger time < ends_at
  std::uint64_t ends_at_us = 0;
  std::uint32_t multiplier_permille = 0;  // > 1000: a multiplier campaign ...
  std::int64_t bonus_points = 0;          // > 0: ... or a fixed bonus (exactly one of the two)
  std::uint8_t min_tier = 0;        // the lowest tier (index) it applies to
  bool automatic = false;           // applies without being named by the purchase

  friend bool operator==(const Campaign&, const Campaign&) = default;
};

struct Program {
  std::uint32_t rate_points = 1;  // base points = floor(amount_minor * rate_points / rate_minor)
  std::uint32_t rate_minor = 1;
  std::uint32_t pending_days = 0;
  ExpiryKind expiry = ExpiryKind::kNone;
  std::uint32_t expiry_value = 0;
  ReturnPolicy return_policy = ReturnPolicy::kClawBack;
  std::int64_t referral_points = 0;   // 0: no referral program
  std::uint32_t tier_window_days = 365;
  std::uint32_t tier_keep_days = 0;
  std::vector<Tier> tiers;            // empty: no tiers
  std::vector<Campaign> campaigns;

  friend bool operator==(const Program&, const Program&) = default;

  // The canonical bytes (docs/storage.md, "Program record").
  std::string Encode() const;
  // nullopt when `bytes` are not exactly one program record.
  static std::optional<Program> Decode(std::string_view bytes);
  // Empty when every field is in range, else what is wrong, for a person.
  std::string Validate() const;
};

// Limits of a program, checked by Validate().
inline constexpr std::uint32_t kRateMax = 1'000'000;
inline constexpr std::uint32_t kPendingDaysMax = 365;
inline constexpr std::uint32_t kExpiryDaysMax = 3650;
inline constexpr std::uint32_t kExpiryMonthsMax = 120;
inline constexpr std::int64_t kReferralPointsMax = 1'000'000'000;
inline constexpr std::uint32_t kTierDaysMax = 3650;
inline constexpr std::size_t kTiersMax = 8;
inline constexpr std::size_t kTierNameMax = 15;
inline constexpr std::int64_t kTierThresholdMax = 1'000'000'000'000'000;
inline constexpr std::uint32_t kMultiplierPermilleMax = 10'000;
inline constexpr std::size_t kCampaignsMax = 64;
inline constexpr std::int64_t kCampaignBonusMax = 1'000'000'000;
// The largest encoding Validate() accepts.
inline constexpr std::size_t kProgramBytesMax =
    37 + kTiersMax * (1 + kTierNameMax + 12) + kCampaignsMax * 38;

}  // namespace tally

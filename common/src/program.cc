#include "tally/program.h"

#include "tally/internal/encoding.h"

namespace tally {
namespace {

constexpr std::uint8_t kProgramFormat = 1;

bool IsPrintableName(const std::string& name) {
  if (name.empty() || name.size() > kTierNameMax) return false;
  for (char c : name) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string Program::Encode() const {
  using internal::PutFixed32;
  using internal::PutFixed64;
  std::string out;
  out.push_back(static_cast<char>(kProgramFormat));
  PutFixed32(&out, rate_points);
  PutFixed32(&out, rate_minor);
  PutFixed32(&out, pending_days);
  out.push_back(static_cast<char>(expiry));
  PutFixed32(&out, expiry_value);
  out.push_back(static_cast<char>(return_policy));
  PutFixed64(&out, static_cast<std::uint64_t>(referral_points));
  PutFixed32(&out, tier_window_days);
  PutFixed32(&out, tier_keep_days);
  out.push_back(static_cast<char>(tiers.size()));
  for (const Tier& tier : tiers) {
    out.push_back(static_cast<char>(tier.name.size()));
    out.append(tier.name);
    PutFixed64(&out, static_cast<std::uint64_t>(tier.threshold));
    PutFixed32(&out, tier.multiplier_permille);
  }
  out.push_back(static_cast<char>(campaigns.size()));
  for (const Campaign& campaign : campaigns) {
    PutFixed64(&out, campaign.id);
    PutFixed64(&out, campaign.starts_at_us);
    PutFixed64(&out, campaign.ends_at_us);
    PutFixed32(&out, campaign.multiplier_permille);
    PutFixed64(&out, static_cast<std::uint64_t>(campaign.bonus_points));
    out.push_back(static_cast<char>(campaign.min_tier));
    out.push_back(static_cast<char>(campaign.automatic ? 1 : 0));
  }
  return out;
}

std::optional<Program> Program::Decode(std::string_view bytes) {
  internal::Reader reader(bytes);
  Program program;
  std::uint8_t format = 0, expiry = 0, policy = 0, tier_count = 0, campaign_count = 0;
  std::uint64_t referral = 0;
  if (!reader.ReadFixed8(&format) || format != kProgramFormat || !reader.ReadFixed32(&program.rate_points) ||
      !reader.ReadFixed32(&program.rate_minor) || !reader.ReadFixed32(&program.pending_days) ||
      !reader.ReadFixed8(&expiry) || !reader.ReadFixed32(&program.expiry_value) || !reader.ReadFixed8(&policy) ||
      !reader.ReadFixed64(&referral) || !reader.ReadFixed32(&program.tier_window_days) ||
      !reader.ReadFixed32(&program.tier_keep_days) || !reader.ReadFixed8(&tier_count)) {
    return std::nullopt;
  }
  if (expiry > static_cast<std::uint8_t>(ExpiryKind::kMonthEnd) ||
      policy > static_cast<std::uint8_t>(ReturnPolicy::kAllowNegative)) {
    return std::nullopt;
  }
  program.expiry = static_cast<ExpiryKind>(expiry);
  program.return_policy = static_cast<ReturnPolicy>(policy);
  program.referral_points = static_cast<std::int64_t>(referral);
  for (std::uint8_t index = 0; index < tier_count; ++index) {
    Tier tier;
    std::uint8_t name_size = 0;
    std::uint64_t threshold = 0;
    if (!reader.ReadFixed8(&name_size) || reader.remaining() < name_size) return std::nullopt;
    tier.name = std::string(reader.rest().substr(0, name_size));
    reader = internal::Reader(reader.rest().substr(name_size));
    if (!reader.ReadFixed64(&threshold) || !reader.ReadFixed32(&tier.multiplier_permille)) return std::nullopt;
    tier.threshold = static_cast<std::int64_t>(threshold);
    program.tiers.push_back(std::move(tier));
  }
  if (!reader.ReadFixed8(&campaign_count)) return std::nullopt;
  for (std::uint8_t index = 0; index < campaign_count; ++index) {
    Campaign campaign;
    std::uint64_t bonus = 0;
    std::uint8_t automatic = 0;
    if (!reader.ReadFixed64(&campaign.id) || !reader.ReadFixed64(&campaign.starts_at_us) ||
        !reader.ReadFixed64(&campaign.ends_at_us) || !reader.ReadFixed32(&campaign.multiplier_permille) ||
        !reader.ReadFixed64(&bonus) || !reader.ReadFixed8(&campaign.min_tier) || !reader.ReadFixed8(&automatic) ||
        automatic > 1) {
      return std::nullopt;
    }
    campaign.bonus_points = static_cast<std::int64_t>(bonus);
    campaign.automatic = automatic == 1;
    program.campaigns.push_back(campaign);
  }
  if (reader.remaining() != 0) return std::nullopt;
  return program;
}

std::string Program::Validate() const {
  if (rate_points == 0 || rate_points > kRateMax || rate_minor == 0 || rate_minor > kRateMax) {
    return "the earn rate's points and minor units are 1 to " + std::to_string(kRateMax);
  }
  if (pending_days > kPendingDaysMax) return "the pending period is at most " + std::to_string(kPendingDaysMax) + " days";
  switch (expiry) {
    case ExpiryKind::kNone:
      if (expiry_value != 0) return "expiry none takes no value";
      break;
    case ExpiryKind::kDays:
      if (expiry_value == 0 || expiry_value > kExpiryDaysMax) {
        return "expiry in days is 1 to " + std::to_string(kExpiryDaysMax);
      }
      break;
    case ExpiryKind::kMonthEnd:
      if (expiry_value > kExpiryMonthsMax) return "expiry at a month's end is 0 to " + std::to_string(kExpiryMonthsMax);
      break;
    default:
      return "unknown expiry kind";
  }
  if (return_policy != ReturnPolicy::kClawBack && return_policy != ReturnPolicy::kAllowNegative) {
    return "unknown return policy";
  }
  if (referral_points < 0 || referral_points > kReferralPointsMax) {
    return "referral points are 0 to " + std::to_string(kReferralPointsMax);
  }
  if (tier_window_days == 0 || tier_window_days > kTierDaysMax || tier_keep_days > kTierDaysMax) {
    return "the tier window is 1 to " + std::to_string(kTierDaysMax) + " days and the keep period at most as long";
  }
  if (tiers.size() > kTiersMax) return "at most " + std::to_string(kTiersMax) + " tiers";
  for (std::size_t index = 0; index < tiers.size(); ++index) {
    const Tier& tier = tiers[index];
    if (!IsPrintableName(tier.name)) return "a tier name is 1 to 15 printable characters without spaces";
    if (index == 0 && tier.threshold != 0) return "the first tier's threshold is 0";
    if (index > 0 && tier.threshold <= tiers[index - 1].threshold) return "tier thresholds must increase";
    if (tier.threshold > kTierThresholdMax) return "a tier threshold is at most " + std::to_string(kTierThresholdMax);
    if (tier.multiplier_permille < 1000 || tier.multiplier_permille > kMultiplierPermilleMax) {
      return "a tier multiplier is 1000 to " + std::to_string(kMultiplierPermilleMax) + " per mille";
    }
  }
  if (campaigns.size() > kCampaignsMax) return "at most " + std::to_string(kCampaignsMax) + " campaigns";
  for (std::size_t index = 0; index < campaigns.size(); ++index) {
    const Campaign& campaign = campaigns[index];
    if (campaign.id == 0) return "a campaign id is not 0";
    for (std::size_t other = 0; other < index; ++other) {
      if (campaigns[other].id == campaign.id) return "campaign " + std::to_string(campaign.id) + " appears twice";
    }
    if (campaign.starts_at_us >= campaign.ends_at_us) {
      return "campaign " + std::to_string(campaign.id) + " ends before it starts";
    }
    const bool multiplier = campaign.multiplier_permille != 0;
    if (multiplier == (campaign.bonus_points != 0)) {
      return "campaign " + std::to_string(campaign.id) + " has either a multiplier or a bonus";
    }
    if (multiplier && (campaign.multiplier_permille <= 1000 || campaign.multiplier_permille > kMultiplierPermilleMax)) {
      return "a campaign multiplier is 1001 to " + std::to_string(kMultiplierPermilleMax) + " per mille";
    }
    if (!multiplier && (campaign.bonus_points < 0 || campaign.bonus_points > kCampaignBonusMax)) {
      return "a campaign bonus is 1 to " + std::to_string(kCampaignBonusMax) + " points";
    }
    if (campaign.min_tier != 0 && campaign.min_tier >= tiers.size()) {
      return "campaign " + std::to_string(campaign.id) + " names a tier the program does not have";
    }
  }
  return {};
}

}  // namespace tally

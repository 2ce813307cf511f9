// The Boost.Asio headers tally uses, in one place. Boost 1.74's awaitable.hpp
// uses std::exchange without including <utility>, so it comes first.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tally {
namespace asio = boost::asio;
using boost::system::error_code;
}  // namespace tally

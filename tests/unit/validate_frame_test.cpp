// The framing between nomnom-api and its validator processes: lengths are never trusted.

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "nomnom/common/child_process.hpp"
#include "validate_frame.hpp"

using namespace nomnom::api;

namespace {

struct Channel {
    Channel() {
        int ends[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, ends) == 0);
        reader = nomnom::UniqueFd(ends[0]);
        writer = nomnom::UniqueFd(ends[1]);
    }
    void send(const std::string& bytes) const {
        REQUIRE(::write(writer.get(), bytes.data(), bytes.size()) ==
                static_cast<ssize_t>(bytes.size()));
    }
    FrameRead read(size_t max = 1024) const {
        return read_frame(reader.get(), max,
                          std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    }
    nomnom::UniqueFd reader;
    nomnom::UniqueFd writer;
};

}  // namespace

TEST_CASE("frames carry fields of any bytes, and the end of the stream is told apart",
          "[api][validate][frame]") {
    Channel channel;
    const std::string binary("a\0\n\xff", 4);
    REQUIRE(write_frame(channel.writer.get(), {"invalid", "", binary}));
    const FrameRead read = channel.read();
    REQUIRE(read.status == FrameStatus::Complete);
    const auto fields = split_fields(read.body);
    REQUIRE(fields);
    CHECK(*fields == std::vector<std::string_view>{"invalid", "", binary});
    CHECK(channel.read().status == FrameStatus::Timeout);
    channel.writer.reset();
    CHECK(channel.read().status == FrameStatus::Closed);
}

TEST_CASE("a truncated frame, an oversize length and a field past its frame are refused",
          "[api][validate][frame]") {
    const std::string frame = encode_frame({"ok", "some text"});
    SECTION("cut in the body") {
        Channel channel;
        channel.send(frame.substr(0, frame.size() - 3));
        channel.writer.reset();
        CHECK(channel.read().status == FrameStatus::Truncated);
    }
    SECTION("cut in the length") {
        Channel channel;
        channel.send(frame.substr(0, 2));
        channel.writer.reset();
        CHECK(channel.read().status == FrameStatus::Truncated);
    }
    SECTION("a length over the limit is refused before anything is allocated or read") {
        const Channel channel;
        channel.send(std::string("\xff\xff\xff\xf0", 4) + "x");
        CHECK(channel.read(1 << 20).status == FrameStatus::TooLarge);
        CHECK(channel.read(frame.size() - 5).status != FrameStatus::Complete);
    }
    SECTION("the limit is inclusive") {
        const Channel channel;
        channel.send(frame);
        CHECK(channel.read(frame.size() - 4).status == FrameStatus::Complete);
    }
    SECTION("fields") {
        CHECK_FALSE(
            split_fields(std::string("\0\0\0\x09"
                                     "short",
                                     9)));
        CHECK_FALSE(split_fields(std::string("\0\0", 2)));
        CHECK(split_fields("")->empty());
    }
}

#include "private_mariadb.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "mariadb_client.hpp"
#include "process.hpp"

namespace nomnom::testing {

using namespace std::chrono_literals;

PrivateMariaDb::PrivateMariaDb() : dir_("nomnom-mdb") {
    // The mysql OS user, which runs the server when the tests run as root, must reach it.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
    start();
    std::ifstream in(dir_.path() / "server" / "url");
    std::getline(in, url_);
}

PrivateMariaDb::~PrivateMariaDb() {
    try {
        stop();
    } catch (const std::exception&) {
        // Best effort: the temporary directory goes away with the test.
    }
}

void PrivateMariaDb::run(const std::string& command) {
    Process script;
    script.start(
        {"/bin/bash", NOMNOM_MARIADB_SERVER_SCRIPT, command, (dir_.path() / "server").string()}, {},
        dir_.path() / "script.log");
    // The script's own waits end within 60 s, a first start's initialisation aside.
    const auto status = script.wait_exit(120s);
    if (status != 0) {
        if (!status) script.kill9();
        std::ifstream in(dir_.path() / "script.log");
        std::ostringstream text;
        text << in.rdbuf();
        throw std::runtime_error("mariadb-test-server.sh " + command + " failed: " + text.str());
    }
}

std::int64_t PrivateMariaDb::query_int64(const std::string& sql) const {
    MariaDbConnection connection(url_);
    return connection.query_int64(sql);
}

void PrivateMariaDb::stop() {
    run("stop");
}

void PrivateMariaDb::kill9() {
    run("kill");
}

void PrivateMariaDb::start() {
    run("start");
}

}  // namespace nomnom::testing

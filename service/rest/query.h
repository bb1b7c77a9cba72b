// PHP-style query encoding (http_build_query) of JSON params, as Bitrix24's
// `batch` command strings need: {"filter":{">ID":5},"select":["ID"]} →
// "filter%5B%3EID%5D=5&select%5B0%5D=ID". true/false become 1/0, null is
// omitted. Reference strings such as "$result[a][49][ID]" are ordinary values:
// the portal decodes the query before it resolves them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace b24::rest {

std::string BuildQuery(const nlohmann::ordered_json& params);
std::string UrlEncode(const std::string& text);

}  // namespace b24::rest

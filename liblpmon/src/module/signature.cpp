#include "module/signature.hpp"

#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <memory>

namespace lpmon::modfile {
namespace {

constexpr std::string_view kSignatureMagic = "~Module signature appended~\n";
constexpr std::size_t kSignatureInfoSize = 12;  // struct module_signature

std::string colon_hex(const unsigned char* bytes, int size) {
  std::string out;
  char two[4];
  for (int i = 0; i < size; ++i) {
    std::snprintf(two, sizeof two, "%02X", bytes[i]);
    out += (out.empty() ? "" : ":") + std::string(two);
  }
  return out;
}

// The issuer's common name, as modinfo shows the signer.
std::string common_name(const X509_NAME* name) {
  const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0) return "";
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  return printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                    static_cast<std::size_t>(ASN1_STRING_length(value))));
}

// "sha256", as modinfo names it; the dotted OID for what OpenSSL does not know.
std::string digest_name(const X509_ALGOR* algorithm) {
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  if (!oid) return "";
  if (const int nid = OBJ_obj2nid(oid); nid != NID_undef) return OBJ_nid2ln(nid);
  char text[128];
  OBJ_obj2txt(text, sizeof text, oid, 1);
  return std::string("OID ") + text;
}

// Signer, key and digest of the first SignerInfo of the PKCS#7 SignedData sign-file makes.
void read_pkcs7(Bytes blob, ModuleSignature& signature) {
  const auto* der = reinterpret_cast<const unsigned char*>(blob.data());
  std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
      d2i_CMS_ContentInfo(nullptr, &der, static_cast<long>(blob.size())), CMS_ContentInfo_free);
  if (!cms) return;
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
  if (!signers || sk_CMS_SignerInfo_num(signers) < 1) return;
  CMS_SignerInfo* signer = sk_CMS_SignerInfo_value(signers, 0);
  ASN1_OCTET_STRING* key_id = nullptr;
  X509_NAME* issuer = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (CMS_SignerInfo_get0_signer_id(signer, &key_id, &issuer, &serial) == 1) {
    if (issuer && serial) {
      signature.signer = common_name(issuer);
      signature.key_id = colon_hex(ASN1_STRING_get0_data(serial), ASN1_STRING_length(serial));
    } else if (key_id) {
      signature.key_id = colon_hex(ASN1_STRING_get0_data(key_id), ASN1_STRING_length(key_id));
    }
  }
  X509_ALGOR* digest = nullptr;
  CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, &digest, nullptr);
  if (digest) signature.hash_algorithm = digest_name(digest);
}

}  // namespace

// The trailer sign-file appends: signature, struct module_signature, then the magic string.
ModuleSignature read_signature(Bytes image, std::vector<std::string>& notes) {
  ModuleSignature signature;
  const std::size_t tail = kSignatureMagic.size() + kSignatureInfoSize;
  if (image.size() < tail || std::memcmp(image.data() + image.size() - kSignatureMagic.size(),
                                         kSignatureMagic.data(), kSignatureMagic.size()) != 0) {
    return signature;
  }
  signature.is_signed = true;
  const Bytes info = image.subspan(image.size() - tail, kSignatureInfoSize);
  const auto id_type = std::to_integer<unsigned>(info[2]);
  const std::size_t signer_length = std::to_integer<std::size_t>(info[3]);
  const std::size_t key_id_length = std::to_integer<std::size_t>(info[4]);
  signature.signature_size = read_uint(info.subspan(8, 4), true);  // __be32 sig_len
  static constexpr std::array<std::string_view, 3> kinds{"PGP", "X.509", "PKCS#7"};
  signature.id_type =
      id_type < kinds.size() ? std::string(kinds[id_type]) : "type " + std::to_string(id_type);
  const std::size_t before = image.size() - tail;
  if (signature.signature_size > before ||
      signer_length + key_id_length > before - signature.signature_size) {
    notes.push_back(
        "the signature trailer claims more bytes than the file has: malformed signature");
    return signature;
  }
  if (id_type == 2) {
    read_pkcs7(image.subspan(before - signature.signature_size, signature.signature_size),
               signature);
  }
  return signature;
}

}  // namespace lpmon::modfile

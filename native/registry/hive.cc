// A thin Node-API wrapper over hivex: one JavaScript `Hive` object per open hive file.
// The merge logic (which keys to create, how Path-like values combine) lives in TypeScript;
// this file only moves keys and raw value bytes in and out of hivex, so every policy decision
// stays testable without native code.

#include <hivex.h>
#include <napi.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

// hivex reports failures through errno; turn the current one into a JavaScript error.
Napi::Error HivexError(Napi::Env env, const std::string& what) {
  int code = errno;
  std::string reason = code != 0 ? std::strerror(code) : "unknown hivex error";
  return Napi::Error::New(env, what.empty() ? reason : what + ": " + reason);
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class Hive : public Napi::ObjectWrap<Hive> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Hive",
                       {
                           InstanceMethod<&Hive::Root>("root"),
                           InstanceMethod<&Hive::Child>("child"),
                           InstanceMethod<&Hive::Children>("children"),
                           InstanceMethod<&Hive::Name>("name"),
                           InstanceMethod<&Hive::AddChild>("addChild"),
                           InstanceMethod<&Hive::DeleteChild>("deleteChild"),
                           InstanceMethod<&Hive::Values>("values"),
                           InstanceMethod<&Hive::SetValues>("setValues"),
                           InstanceMethod<&Hive::Commit>("commit"),
                           InstanceMethod<&Hive::Close>("close"),
                       });
  }

  // new Hive(path, writable): opens the file; hivex reads it whole into memory in write
  // mode, so the file itself only changes on commit().
  explicit Hive(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Hive>(info) {
    std::string path = info[0].As<Napi::String>();
    bool writable = info[1].As<Napi::Boolean>();
    errno = 0;
    handle_ = hivex_open(path.c_str(), writable ? HIVEX_OPEN_WRITE : 0);
    // The caller knows the path; the reason is all it needs from here.
    if (handle_ == nullptr) throw HivexError(info.Env(), "");
  }

  ~Hive() override { CloseHandle(); }

 private:
  hive_h* Open(Napi::Env env) {
    if (handle_ == nullptr) throw Napi::Error::New(env, "the hive is closed");
    return handle_;
  }

  static hive_node_h NodeArg(const Napi::CallbackInfo& info, size_t index) {
    return static_cast<hive_node_h>(info[index].As<Napi::Number>().Int64Value());
  }

  Napi::Value Root(const Napi::CallbackInfo& info) {
    errno = 0;
    hive_node_h root = hivex_root(Open(info.Env()));
    if (root == 0) throw HivexError(info.Env(), "the hive has no valid root key");
    return Napi::Number::New(info.Env(), static_cast<double>(root));
  }

  // child(node, name) -> node, or 0 when no subkey has that name (compared case-insensitively).
  Napi::Value Child(const Napi::CallbackInfo& info) {
    std::string name = info[1].As<Napi::String>();
    errno = 0;
    hive_node_h child = hivex_node_get_child(Open(info.Env()), NodeArg(info, 0), name.c_str());
    if (child == 0 && errno != 0) throw HivexError(info.Env(), "cannot look up subkey " + name);
    return Napi::Number::New(info.Env(), static_cast<double>(child));
  }

  Napi::Value Children(const Napi::CallbackInfo& info) {
    errno = 0;
    std::unique_ptr<hive_node_h, FreeDeleter> children(hivex_node_children(Open(info.Env()), NodeArg(info, 0)));
    if (!children) throw HivexError(info.Env(), "cannot list subkeys");
    Napi::Array result = Napi::Array::New(info.Env());
    for (uint32_t i = 0; children.get()[i] != 0; ++i)
      result.Set(i, Napi::Number::New(info.Env(), static_cast<double>(children.get()[i])));
    return result;
  }

  Napi::Value Name(const Napi::CallbackInfo& info) {
    errno = 0;
    std::unique_ptr<char, FreeDeleter> name(hivex_node_name(Open(info.Env()), NodeArg(info, 0)));
    if (!name) throw HivexError(info.Env(), "cannot read key name");
    return Napi::String::New(info.Env(), name.get());
  }

  Napi::Value AddChild(const Napi::CallbackInfo& info) {
    std::string name = info[1].As<Napi::String>();
    errno = 0;
    hive_node_h child = hivex_node_add_child(Open(info.Env()), NodeArg(info, 0), name.c_str());
    if (child == 0) throw HivexError(info.Env(), "cannot create subkey " + name);
    return Napi::Number::New(info.Env(), static_cast<double>(child));
  }

  // Deletes the key and its whole subtree.
  void DeleteChild(const Napi::CallbackInfo& info) {
    errno = 0;
    if (hivex_node_delete_child(Open(info.Env()), NodeArg(info, 0)) == -1)
      throw HivexError(info.Env(), "cannot delete key");
  }

  // values(node) -> [{ name, type, data }]: names as UTF-8 ("" is the default value), the
  // type as the raw 32-bit number and the data as the exact stored bytes.
  Napi::Value Values(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    hive_h* h = Open(env);
    errno = 0;
    std::unique_ptr<hive_value_h, FreeDeleter> values(hivex_node_values(h, NodeArg(info, 0)));
    if (!values) throw HivexError(env, "cannot list values");
    Napi::Array result = Napi::Array::New(env);
    for (uint32_t i = 0; values.get()[i] != 0; ++i) {
      hive_value_h value = values.get()[i];
      std::unique_ptr<char, FreeDeleter> name(hivex_value_key(h, value));
      if (!name) throw HivexError(env, "cannot read value name");
      hive_type type;
      size_t length;
      std::unique_ptr<char, FreeDeleter> data(hivex_value_value(h, value, &type, &length));
      if (!data) throw HivexError(env, std::string("cannot read value ") + name.get());
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", Napi::String::New(env, name.get()));
      entry.Set("type", Napi::Number::New(env, static_cast<uint32_t>(type)));
      entry.Set("data", Napi::Buffer<char>::Copy(env, data.get(), length));
      result.Set(i, entry);
    }
    return result;
  }

  // setValues(node, [{ name, type, data }]) replaces every value of the key at once: hivex
  // has no single-value delete, and one rewrite per key keeps the hive from growing per value.
  void SetValues(const Napi::CallbackInfo& info) {
    Napi::Array input = info[1].As<Napi::Array>();
    // Keep the strings and bytes alive until hivex has copied them.
    std::vector<std::string> names(input.Length());
    std::vector<hive_set_value> values(input.Length());
    for (uint32_t i = 0; i < input.Length(); ++i) {
      Napi::Object entry = input.Get(i).As<Napi::Object>();
      names[i] = entry.Get("name").As<Napi::String>();
      Napi::Buffer<char> data = entry.Get("data").As<Napi::Buffer<char>>();
      values[i].key = names[i].data();
      values[i].t = static_cast<hive_type>(entry.Get("type").As<Napi::Number>().Uint32Value());
      values[i].len = data.Length();
      values[i].value = data.Data();
    }
    errno = 0;
    if (hivex_node_set_values(Open(info.Env()), NodeArg(info, 0), values.size(), values.data(), 0) == -1)
      throw HivexError(info.Env(), "cannot set values");
  }

  // commit(path) writes the whole edited hive to `path` (which may differ from the opened file).
  void Commit(const Napi::CallbackInfo& info) {
    std::string path = info[0].As<Napi::String>();
    errno = 0;
    if (hivex_commit(Open(info.Env()), path.c_str(), 0) == -1) throw HivexError(info.Env(), "cannot write hive " + path);
  }

  void Close(const Napi::CallbackInfo&) { CloseHandle(); }

  void CloseHandle() {
    if (handle_ != nullptr) hivex_close(handle_);
    handle_ = nullptr;
  }

  hive_h* handle_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Hive", Hive::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(lamina_registry, Init)

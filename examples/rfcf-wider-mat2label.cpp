// Converts a WIDER FACE ground-truth .mat (wider_face_train.mat / wider_face_val.mat) into a
// boxes-only label.txt that rfcf::data::read_wider_labels reads ("# <event>/<file>.jpg" lines, then
// "x y w h" per face). The output is written atomically.
//   rfcf-wider-mat2label --mat wider_face_split/wider_face_val.mat --out WIDER_val/label.txt
#include <CLI/CLI.hpp>

#include <cstdio>

#include "rfcf/data/wider_labels.hpp"

int main(int argc, char** argv) {
  CLI::App app{"WIDER FACE .mat ground truth -> label.txt (boxes only)"};
  std::string mat, out;
  app.add_option("--mat", mat, "wider_face_{train,val}.mat (event_list, file_list, face_bbx_list)")->required();
  app.add_option("--out", out, "label.txt to write")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    rfcf::data::wider_mat_to_label(mat, out);
    rfcf::data::WiderLabelOptions o;
    o.check_files = false;
    o.keep_empty = true;
    const auto set = rfcf::data::read_wider_labels(out, o);
    std::printf("%s: %zu images, %lld faces\n", out.c_str(), set.images.size(), static_cast<long long>(set.faces));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rfcf-wider-mat2label: %s\n", e.what());
    return 1;
  }
  return 0;
}

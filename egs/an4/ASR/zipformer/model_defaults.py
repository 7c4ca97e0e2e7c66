"""AN4's defaults shared by its zipformer scripts: corpus, lang dir and the "Tiny-AN4" model of
ZIPFORMER.md section 14 (about 2.8 M parameters with the 100-piece BPE vocabulary)."""

CORPUS = {
    "corpus": "an4",
    "lang_dir": "data/lang_bpe_100",
    "train_split": "train",
    "valid_split": "test",
    "test_sets": "test",
    "manifest_dir": "data/fbank",
}

MODEL = {
    "num_encoder_layers": "1,1,1,1,1,1",
    "downsampling_factor": "1,2,4,8,4,2",
    "encoder_dim": "128,128,128,128,128,128",
    "encoder_unmasked_dim": "128,128,128,128,128,128",
    "feedforward_dim": "192,192,192,192,192,192",
    "num_heads": "4,4,4,8,4,4",
    "query_head_dim": "32",
    "value_head_dim": "12",
    "pos_head_dim": "4",
    "pos_dim": 48,
    "cnn_module_kernel": "31,31,15,15,15,31",
    "decoder_dim": 160,
    "joiner_dim": 160,
    "context_size": 2,
}

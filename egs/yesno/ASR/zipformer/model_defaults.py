"""yesno's defaults shared by its zipformer scripts: corpus, lang dir and a very small model
(two words to recognise; about 0.2 M parameters)."""

CORPUS = {
    "corpus": "yesno",
    "lang_dir": "data/lang_bpe_14",
    "train_split": "train",
    "valid_split": "test",
    "test_sets": "test",
    "manifest_dir": "data/fbank",
}

MODEL = {
    "num_encoder_layers": "1,1,1,1,1,1",
    "downsampling_factor": "1,2,4,8,4,2",
    "encoder_dim": "64,64,64,64,64,64",
    "encoder_unmasked_dim": "64,64,64,64,64,64",
    "feedforward_dim": "128,128,128,128,128,128",
    "num_heads": "4,4,4,4,4,4",
    "query_head_dim": "16",
    "value_head_dim": "8",
    "cnn_module_kernel": "15,15,15,15,15,15",
    "decoder_dim": 64,
    "joiner_dim": 64,
}

"""AN4's defaults shared by its zipformer scripts: corpus, lang dir, the "Tiny-AN4" model of
docs/design/zipformer.rst §14 with a 64-channel front end and a CTC head (2,665,297 parameters with
the 101-piece vocabulary: BPE 100 + <sil>), causal so that the one model serves full-context and
streaming decoding, and the training schedule of RESULTS.md (within 60 CPU minutes)."""

CORPUS = {
    "corpus": "an4",
    "lang_dir": "data/lang_bpe_101",
    "train_split": "train",
    # dev: 10 speakers held out of AN4's training set (icefall_lite.data.corpora.an4); every
    # preset is chosen on it, the test set only reported
    "valid_split": "dev",
    "test_sets": "dev,test",
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
    "causal": True,
    # The front end dominates this model's cost; 64 channels (icefall: 128) as
    # docs/design/zipformer.rst §14.1 suggests. The CTC head pulls the encoder towards the
    # transcript early (RESULTS.md).
    "embed_layer3_channels": 64,
    "use_ctc": True,
    # CTC training starts from mostly-blank output (yesno's RESULTS.md; AN4 Run 7)
    "ctc_blank_bias": 3.0,
}

#: Full-context decoding of the causal model (decode.py, export.py, pretrained.py); training draws
#: chunk sizes 16,32,64,-1 and left contexts 64,128,256,-1 (the library defaults), and
#: streaming_decode.py passes a positive chunk size and left context.
FULL_CONTEXT = {"chunk_size": "-1", "left_context_frames": "-1"}

#: 8 epochs of the speed-perturbed training set (2,844 cuts, 7,690 s) in batches of at most 60 s:
#: about 1,200 steps (RESULTS.md, Run 7). The first 300 batches train the encoder with the CTC
#: loss alone, then the transducer losses join (ramp over 200 batches); the transcripts carry the
#: <sil> pause piece between words (prepare.sh --sil-piece 1), which the CTC targets leave out,
#: and the simple loss has no lm-only term (--lm-scale 0).
#: SpecAugment is off: with it (and without the CTC-only start) the model had not started to use
#: the audio after 900 steps (RESULTS.md). Eden knees at 400 batches / 4 epochs after 50 warm-up
#: batches; running average every 10.
NUM_EPOCHS = 8
#: --avg 1 (with --use-averaged-model: the running average of epoch 8 against epoch 7) had the
#: lowest dev WER of avg 1-5 (local/tune_on_dev.py; RESULTS.md, Run 9)
AVG = 1

TRAIN = {
    "exp_dir": "zipformer/exp",
    "num_epochs": NUM_EPOCHS,
    "max_duration": 60,
    "num_buckets": 10,
    "base_lr": 0.045,
    "clipping_scale": 2.0,
    "lr_batches": 400,
    "lr_epochs": 4,
    "lr_warmup_batches": 50,
    "warm_step": 200,
    "ctc_loss_scale": 0.5,
    "ctc_only_batches": 300,
    "lm_scale": 0.0,
    "enable_spec_aug": False,
    "average_period": 10,
    "ref_duration": 200,
    "save_every_n": 100,
    "keep_last_k": 10,
    "valid_interval": 100000,
    "log_interval": 20,
    "num_workers": 0,
}

#: A blank penalty (subtracted from the blank logit by every method) turns deletions into
#: emissions; 0.5 had the lowest dev WER of 0, 0.5, 1.0, 1.5 (with avg 1-5; RESULTS.md, Run 9),
#: and the LG scale 0.1 the lowest of 0.01, 0.1, 0.3 for the two LG methods.
BLANK_PENALTY = 0.5
NGRAM_LM_SCALE = 0.1
DECODE = {"exp_dir": "zipformer/exp", "epoch": NUM_EPOCHS, "avg": AVG, "max_duration": 200,
          "num_workers": 0, "blank_penalty": BLANK_PENALTY, "ngram_lm_scale": NGRAM_LM_SCALE}

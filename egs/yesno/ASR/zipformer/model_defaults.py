"""yesno's defaults shared by its zipformer scripts: corpus, lang dir (BPE with a <sil> pause
token), a very small model (two words to recognise: two Zipformer stacks and a CTC head, 415,347
parameters) on 23-bin fbank (prepare.sh --num-mel-bins), and the training schedule (see
RESULTS.md, Run 4, for what it gives and why)."""

CORPUS = {
    "corpus": "yesno",
    "lang_dir": "data/lang_bpe_15",
    "train_split": "train",
    "valid_split": "test",
    "test_sets": "test",
    "manifest_dir": "data/fbank",
}

MODEL = {
    "feature_dim": 23,
    "num_encoder_layers": "1,1",
    "downsampling_factor": "1,2",
    "encoder_dim": "64,64",
    "encoder_unmasked_dim": "64,64",
    "feedforward_dim": "128,128",
    "num_heads": "4,4",
    "query_head_dim": "16",
    "value_head_dim": "8",
    "cnn_module_kernel": "15,15",
    "decoder_dim": 64,
    "joiner_dim": 64,
    # The CTC head starts the encoder on the audio (its blank bias makes that reliable); the
    # transducer losses take over after TRAIN["ctc_only_batches"].
    "use_ctc": True,
    "ctc_blank_bias": 3.0,
}

#: 8 epochs of 10 passes over the 30 training utterances, batches of at most 30 s: ~580 steps;
#: the first 100 train the CTC head alone, then 0.5 x CTC + the transducer losses, whose simple
#: loss has no lm-only term (--lm-scale 0: with random YES/NO sequences that term cannot fall
#: below ln 2 per word, and with it the transducer stayed longer on its plateau). The learning
#: rate hardly decays. SpecAugment is off (as in all runs of RESULTS.md; not compared with on).
NUM_EPOCHS = 8
AVG = 1

TRAIN = {
    "exp_dir": "zipformer/exp",
    "num_epochs": NUM_EPOCHS,
    "repeat_train": 10,
    "max_duration": 30,
    "num_buckets": 2,
    "enable_spec_aug": False,
    "base_lr": 0.045,
    "lr_batches": 1000,
    "lr_epochs": 1000,
    "lr_warmup_batches": 20,
    "warm_step": 40,
    "ctc_only_batches": 100,
    "ctc_loss_scale": 0.5,
    "lm_scale": 0.0,
    "average_period": 5,
    "save_every_n": 100000,
    "keep_last_k": 1,
    "ref_duration": 60,
    "num_workers": 0,
    "log_interval": 20,
    "valid_interval": 340,
}

DECODE = {"exp_dir": "zipformer/exp", "epoch": NUM_EPOCHS, "avg": AVG, "max_duration": 100,
          "num_workers": 0}

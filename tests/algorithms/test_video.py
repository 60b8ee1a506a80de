"""``rayrl evaluate --video DIR``: every evaluation episode as an mp4 of the env's RGB frames, named by its seed."""

from __future__ import annotations

import json

import imageio.v2 as imageio  # moviepy's own dependency, with imageio-ffmpeg
import numpy as np

from rayrl.algorithms import registry
from rayrl.config import build_config
from rayrl.evaluation import run_episodes
from rayrl.policy import make_policy
from tests.algorithms.test_policy import checkpoint
from tests.test_cli import assert_one_line_error, rayrl


def frames(path) -> np.ndarray:
    with imageio.get_reader(path, format="ffmpeg") as reader:
        return np.stack(list(reader.iter_data()))  # list(reader) asks for its length, unknown (inf) for mp4


def one_frame_a_step(clip: np.ndarray, length: int) -> bool:
    """The reset's frame and one a step; moviepy may lose the last to the rounding of the clip's duration."""
    return length <= len(clip) <= length + 1


def test_rayrl_evaluate_records_each_cartpole_episode_and_refuses_an_unwritable_directory(make_plan, tmp_path):
    checkpoint(make_plan("dqn"), "dqn", tmp_path / "run" / "checkpoint_000000")
    videos = tmp_path / "videos"
    done = rayrl("evaluate", str(tmp_path / "run"), "--episodes", "2", "--seed", "5", "--video", str(videos))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"rayrl: videos in {videos} (2 files)", done.stdout
    assert "pygame" not in done.stdout + done.stderr  # its greeting on import, its complaints on a headless machine
    names = sorted(path.name for path in videos.iterdir())
    assert names == ["dqn-CartPole-v1-seed5-episode-0.mp4", "dqn-CartPole-v1-seed6-episode-1.mp4"]
    assert all((videos / name).stat().st_size > 0 for name in names)

    done = rayrl("evaluate", str(tmp_path / "run"), "--seed", "7", "--episodes", "1", "--video", str(videos), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["videos"] == [str(videos / "dqn-CartPole-v1-seed7-episode-0.mp4")]
    clip = frames(summary["videos"][0])
    assert clip.shape[1:] == (400, 600, 3) and one_frame_a_step(clip, summary["length_max"])

    (tmp_path / "a_file").write_text("")
    refused = rayrl("evaluate", str(tmp_path / "run"), "--video", str(tmp_path / "a_file" / "videos"))
    assert_one_line_error(refused, "cannot write videos to")


def test_a_pong_video_shows_the_rgb_game_screen_of_the_same_episode(tmp_path):
    algo = registry.get("impala")
    config = build_config(algo.config_cls, algo.preset_for("ALE/Pong-v5"), {"env": "ALE/Pong-v5"})
    policy = make_policy("impala", config)  # untrained: the frames are the point, not the play
    # The ALE cuts the game at 800 frames (200 agent steps): an untrained agent's whole game is 3,000 frames and more.
    episode = dict(env="ALE/Pong-v5", env_kwargs={"max_num_frames_per_episode": 800}, episodes=1, seed=3,
                   stochastic=False)
    recorded = run_episodes(policy, **episode, video_dir=str(tmp_path))
    assert recorded == run_episodes(policy, **episode)  # rendering leaves the game as it was
    [video] = tmp_path.iterdir()
    assert video.name == "impala-ALE-Pong-v5-seed3-episode-0.mp4"
    clip = frames(video)
    assert clip.shape[1:] == (210, 160, 3) and clip.dtype == np.uint8 and one_frame_a_step(clip, recorded[1][0])
    with imageio.get_reader(video, format="ffmpeg") as reader:
        assert reader.get_meta_data()["fps"] == 15  # real time: the ALE's 60 Hz over 4 frames a step
    colours = np.unique(clip[-1].reshape(-1, 3) // 32, axis=0)  # coarse: video compression blurs the edges
    assert len(colours) >= 3  # the field, the paddles and the score, not one colour
